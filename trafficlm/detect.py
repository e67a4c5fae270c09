"""Scoring flows with a traffic model: identical token sequences are scored once.

Floods and scans repeat themselves token for token, so flows are grouped by
the tokenizer's content hash and only one flow of each group goes through
the model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from trafficlm.flows import FlowBatch
from trafficlm.flows.frame import flows_frame
from trafficlm.model import BENIGN, TrafficModel


@dataclass
class Scores:
    """Per flow: the class the model chose, its probability, and the open-set verdict."""

    label: np.ndarray  # str [n]
    confidence: np.ndarray  # float [n]: probability of that class
    attack_score: np.ndarray  # float [n]: 1 - P(BENIGN)
    distance: np.ndarray  # float [n]: open-set distance to the nearest known class
    unlike_training: np.ndarray  # bool [n]: distance above the calibrated threshold
    unique_scored: int  # how many distinct token sequences went through the model

    @property
    def alert(self) -> np.ndarray:
        """Flows worth an analyst's look: an attack class, or unlike anything seen."""
        return (self.label != BENIGN) | self.unlike_training


def score_flows(model: TrafficModel, flows: FlowBatch) -> Scores:
    encoded = model.tokenizer.encode(flows)
    _, first, inverse = np.unique(encoded.content_hash, return_index=True, return_inverse=True)
    probs, distance = model.predict(encoded.ids[first])
    probs, distance = probs[inverse], distance[inverse]
    best = probs.argmax(axis=1)
    return Scores(
        label=np.array(model.labels, dtype=object)[best],
        confidence=probs[np.arange(len(best)), best],
        attack_score=1 - probs[:, model.labels.index(BENIGN)],
        distance=distance,
        unlike_training=distance > model.calibration.threshold,
        unique_scored=len(first),
    )


def scored_frame(model: TrafficModel, flows: FlowBatch, capture: str) -> pl.DataFrame:
    """The flows as a frame with their scores: what sessions are built from."""
    scores = score_flows(model, flows)
    return flows_frame(flows, capture=capture).with_columns(
        pl.Series("label", scores.label.astype(str)),
        pl.Series("confidence", scores.confidence),
        pl.Series("attack_score", scores.attack_score),
        pl.Series("unlike_training", scores.unlike_training))

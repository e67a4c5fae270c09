"""Scoring flows with a traffic model: identical token sequences are scored once.

Floods and scans repeat themselves token for token, so flows are grouped by
the tokenizer's content hash and only one flow of each group goes through
the model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from trafficlm.extract import flow_pair_keys
from trafficlm.flows import FlowBatch
from trafficlm.flows.frame import flows_frame
from trafficlm.hashing import mix64
from trafficlm.model import BENIGN, TrafficModel

EXPLAIN_LIMIT = 256  # distinct alerted token sequences explained per scoring call
EXPLAINED_PER_PAIR = 2  # ... of them per (host pair, class)


@dataclass
class Scores:
    """Per flow: the class the model chose, its probability, and the open-set verdict."""

    label: np.ndarray  # str [n]
    confidence: np.ndarray  # float [n]: probability of that class
    attack_score: np.ndarray  # float [n]: 1 - P(BENIGN)
    distance: np.ndarray  # float [n]: open-set distance to the nearest known class
    unlike_training: np.ndarray  # bool [n]: distance above the calibrated threshold
    unique_scored: int  # how many distinct token sequences went through the model
    representative: np.ndarray  # int [n]: the row whose identical tokens were scored
    content_hash: np.ndarray  # uint64 [n]: of the flow's token ids (what the model saw)


@dataclass(frozen=True)
class AlertPolicy:
    """When a flow alerts.

    By default: when its likeliest class is an attack, or when it is unlike
    anything in training at the model's calibrated rate. With
    ``attack_threshold``: when 1 - P(BENIGN) reaches it (the class shown is
    the likeliest attack), which trades missed attacks for false alarms.
    """

    attack_threshold: float | None = None
    distance_threshold: float | None = None  # None: the model's calibrated one

    @classmethod
    def choose(cls, model: TrafficModel, threshold: float | None = None,
               fpr: float | None = None) -> AlertPolicy:
        """From triage's --threshold X or --fpr X (a benign false-positive rate)."""
        if fpr is not None:
            return cls(*model.calibration.thresholds_at(fpr))
        return cls(attack_threshold=threshold)


def score_flows(model: TrafficModel, flows: FlowBatch,
                policy: AlertPolicy = AlertPolicy()) -> Scores:
    encoded = model.tokenizer.encode(flows)
    _, first, inverse = np.unique(encoded.content_hash, return_index=True, return_inverse=True)
    probs, distance = model.predict(encoded.ids[first])
    probs, distance = probs[inverse], distance[inverse]
    benign = model.labels.index(BENIGN)
    attack_score = 1 - probs[:, benign]
    best = probs.argmax(axis=1)
    if policy.attack_threshold is not None:
        likeliest_attack = np.where(np.arange(probs.shape[1]) == benign, -1, probs).argmax(axis=1)
        best = np.where(attack_score >= policy.attack_threshold, likeliest_attack, benign)
    limit = policy.distance_threshold
    return Scores(
        label=np.array(model.labels, dtype=object)[best],
        confidence=probs[np.arange(len(best)), best],
        attack_score=attack_score,
        distance=distance,
        unlike_training=distance > (model.calibration.threshold if limit is None else limit),
        unique_scored=len(first),
        representative=first[inverse],
        content_hash=encoded.content_hash,
    )


def scored_frame(model: TrafficModel, flows: FlowBatch, capture: str,
                 policy: AlertPolicy = AlertPolicy(),
                 explain_limit: int = EXPLAIN_LIMIT) -> pl.DataFrame:
    """The flows as a frame with their scores and, for alerted flows, the evidence."""
    scores = score_flows(model, flows, policy)
    return frame_with_scores(flows, capture, scores, explain(model, flows, scores,
                                                             explain_limit))


def frame_with_scores(flows: FlowBatch, capture: str, scores: Scores,
                      evidence: list) -> pl.DataFrame:
    """The flow columns plus what sessions are built from (scores, evidence, pair key)."""
    return flows_frame(flows, capture=capture).with_columns(
        pl.Series("label", scores.label.astype(str)),
        pl.Series("confidence", scores.confidence),
        pl.Series("attack_score", scores.attack_score),
        pl.Series("unlike_training", scores.unlike_training),
        pl.Series("evidence", evidence, pl.List(pl.String)),
        pl.Series("content_hash", scores.content_hash, pl.UInt64),
        pl.Series("pair_key", flow_pair_keys(flows)))


def explain(model: TrafficModel, flows: FlowBatch, scores: Scores, limit: int) -> list:
    """Evidence for the flows alerted with a class, None elsewhere.

    A session is judged by its most suspicious flows, so only the top
    ``EXPLAINED_PER_PAIR`` distinct token sequences of each (host pair,
    class) are explained, at most ``limit`` per call: the explanation work
    stays bounded however many flows a flood or a scan brings.
    """
    from trafficlm.attribution import evidence, token_attributions

    classed = (scores.label != BENIGN)
    candidates = _top_per_pair(flows, np.unique(scores.representative[classed]), scores)[:limit]
    out: list = [None] * len(flows)
    if not len(candidates):
        return out
    chosen = flows.select(candidates)
    ids = model.tokenizer.encode(chosen).ids
    where = model.tokenizer.provenance(chosen)
    targets = np.array([model.labels.index(x) for x in scores.label[candidates]])
    weights = token_attributions(model, ids, targets)
    pieces = {}
    for k, row in enumerate(candidates):
        directions = ["bwd" if d else "fwd" for d in chosen.pkt_direction[k]]
        pieces[row] = evidence(model, ids[k], where.slot[k], where.packet[k],
                              where.byte_offset[k], directions, weights[k])
    for i in np.flatnonzero(classed):
        out[i] = pieces.get(scores.representative[i])
    return out


def _top_per_pair(flows: FlowBatch, rows: np.ndarray, scores: Scores) -> np.ndarray:
    """The most suspicious rows of each (initiator, responder, class), most suspicious first."""
    rows = rows[np.argsort(-scores.attack_score[rows], kind="stable")]
    keys = np.zeros(len(rows), np.uint64)
    for column in (flows.init_hi, flows.init_lo, flows.resp_hi, flows.resp_lo):
        keys = mix64(keys ^ column[rows].astype(np.uint64))
    labels = np.unique(scores.label[rows].astype(str), return_inverse=True)[1]
    keys = mix64(keys ^ labels.astype(np.uint64))
    _, group = np.unique(keys, return_inverse=True)
    order = np.argsort(group, kind="stable")  # by group, most suspicious first within
    rank = np.empty(len(rows), np.int64)
    starts = np.r_[0, np.flatnonzero(np.diff(group[order])) + 1]
    rank[order] = np.arange(len(rows)) - np.repeat(starts, np.diff(np.r_[starts, len(rows)]))
    return rows[rank < EXPLAINED_PER_PAIR]

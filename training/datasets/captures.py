"""Reading a capture into flows for training, with a per-capture cap on flows per label."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from trafficlm.capture import CaptureReport
from trafficlm.flows import FlowBatch
from trafficlm.pipeline import capture_flows
from trafficlm.tokenizer import TrafficTokenizer
from trafficlm.training.datasets.flowset import FlowSet, flowset_from_flows


def labelled_capture(path: str, label_of: Callable[[FlowBatch], np.ndarray], capture: str,
                     group: str, tokenizer: TrafficTokenizer, cap_per_label: int,
                     seed: int, rtt_of: Callable[[FlowBatch], np.ndarray] | None = None,
                     ) -> tuple[FlowSet | None, CaptureReport, int]:
    """All flows of one capture with their labels, and how many flows had no label (dropped).
    ``rtt_of``: each flow's path round trip, where the capture's maker knows it."""
    report = CaptureReport(path)
    batches = list(capture_flows(path, report))
    if not batches:
        return None, report, 0
    flows = FlowBatch.concat(batches)
    labels = label_of(flows)
    labelled = np.flatnonzero(np.array([label is not None for label in labels], dtype=bool))
    keep = _cap_per_label(labels, labelled, cap_per_label, seed)
    kept = flows.select(keep)
    flowset = flowset_from_flows(kept, labels[keep], capture, group, tokenizer,
                                 None if rtt_of is None else rtt_of(kept))
    return flowset, report, len(flows) - len(labelled)


def _cap_per_label(labels: np.ndarray, rows: np.ndarray, cap: int, seed: int) -> np.ndarray:
    """At most ``cap`` rows per label, picked with a seeded generator, in original order."""
    rng = np.random.default_rng(seed)
    chosen = []
    for label in sorted({labels[r] for r in rows}):
        mine = rows[labels[rows] == label]
        chosen.append(mine if len(mine) <= cap else rng.choice(mine, cap, replace=False))
    return np.sort(np.concatenate(chosen)) if chosen else rows

"""FlowSet: flows as training rows: token ids, label, capture, holdout group, baseline features.

Everything a trainer, an evaluator or a baseline needs, computed once from
the flow table's output, so the model and the shallow baselines are always
compared on exactly the same flows.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from trafficlm.flows import FlowBatch
from trafficlm.flows.records import TCP_FLAG_NAMES
from trafficlm.tokenizer import TrafficTokenizer

BASELINE_PACKETS = 8


@dataclass
class FlowSet:
    ids: np.ndarray  # int32 [n, max_length]
    labels: np.ndarray  # str [n]
    capture: np.ndarray  # str [n]: which capture file
    group: np.ndarray  # str [n]: the unit held out together (testbed run, folder, day)
    start_ns: np.ndarray  # int64 [n]
    sequence_features: np.ndarray  # float32 [n, 2 * BASELINE_PACKETS]: sizes, directions, gaps
    flow_features: np.ndarray  # float32 [n, k]: CICFlowMeter-like flow statistics
    # float32 [n]: the round trip the testbed gave the flow's path (NaN: not a testbed flow)
    path_rtt_ms: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)

    def select(self, rows: np.ndarray) -> FlowSet:
        return FlowSet(**{f.name: getattr(self, f.name)[rows] for f in fields(self)})

    @staticmethod
    def concat(sets: list[FlowSet]) -> FlowSet:
        sets = [s for s in sets if len(s)]
        if not sets:
            raise ValueError("no flows to concatenate")
        return FlowSet(**{f.name: np.concatenate([getattr(s, f.name) for s in sets])
                          for f in fields(FlowSet)})

    def deduplicate(self) -> tuple[FlowSet, int]:
        """Drop flows whose token ids and label repeat an earlier flow (before any split).

        Floods and scans repeat themselves; identical rows would sit on both
        sides of a split and inflate scores. Returns the set and how many went.
        """
        keys = np.array([hash((lab, row.tobytes())) for lab, row in
                         zip(self.labels, self.ids, strict=True)])
        _, first = np.unique(keys, return_index=True)
        first.sort()
        return self.select(first), len(self) - len(first)


def flowset_from_flows(flows: FlowBatch, labels: np.ndarray, capture: str, group: str,
                       tokenizer: TrafficTokenizer,
                       path_rtt_ms: np.ndarray | None = None) -> FlowSet:
    n = len(flows)
    return FlowSet(
        ids=tokenizer.encode(flows).ids,
        labels=np.asarray(labels, dtype=object),
        capture=np.full(n, capture, dtype=object),
        group=np.full(n, group, dtype=object),
        start_ns=flows.start_ns.copy(),
        sequence_features=sequence_features(flows),
        flow_features=flow_features(flows),
        path_rtt_ms=(np.full(n, np.nan, np.float32) if path_rtt_ms is None
                     else np.asarray(path_rtt_ms, np.float32)),
    )


def sequence_features(flows: FlowBatch) -> np.ndarray:
    """Per packet: signed size (negative = back to the initiator) and log gap; the k-NN input."""
    p = BASELINE_PACKETS
    present = np.arange(p) < flows.n_stored[:, None]
    sign = np.where(flows.pkt_direction[:, :p] == 1, -1.0, 1.0)
    size = sign * flows.pkt_ip_payload_len[:, :p] / 1500.0
    ts = flows.pkt_ts_ns[:, :p].astype(np.int64)
    gap = np.diff(ts, axis=1, prepend=ts[:, :1]) / 1000.0
    gap = np.log1p(np.clip(gap, 0, None)) / 20.0
    return np.concatenate([np.where(present, size, 0), np.where(present, gap, 0)],
                          axis=1).astype(np.float32)


def flow_features(flows: FlowBatch) -> np.ndarray:
    """Flow statistics in the spirit of CICFlowMeter; the random forest's input."""
    p = BASELINE_PACKETS
    present = np.arange(p) < flows.n_stored[:, None]
    sizes = np.where(present, flows.pkt_ip_payload_len[:, :p], np.nan)
    with np.errstate(invalid="ignore"):
        mean_size = np.nan_to_num(np.nanmean(sizes, axis=1))
        std_size = np.nan_to_num(np.nanstd(sizes, axis=1))
    columns = [
        np.log1p((flows.last_ns - flows.start_ns) / 1e6),
        *(np.log1p(getattr(flows, name)) for name in (
            "packets_fwd", "packets_bwd", "bytes_fwd", "bytes_bwd", "payload_bytes_fwd",
            "payload_bytes_bwd")),
        *(np.log1p(getattr(flows, f"{flag}_count")) for flag in TCP_FLAG_NAMES),
        flows.proto.astype(np.float64), flows.resp_port.astype(np.float64),
        mean_size, std_size,
    ]
    return np.stack(columns, axis=1).astype(np.float32)

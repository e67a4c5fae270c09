"""Scored flow frames written by hand: what sessions and their rules read, nothing more."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl

from trafficlm.model import BENIGN

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def scored_flows(rows: list[tuple[str, str, float, str, bool]]) -> pl.DataFrame:
    """(source, destination, start in seconds after T0, model label, unlike training) per
    flow, with the other columns sessions read filled in plainly."""
    n = len(rows)
    src, dst, offset, label, unlike = (list(column) for column in zip(*rows, strict=True))
    start = [T0 + timedelta(seconds=s) for s in offset]
    return pl.DataFrame({
        "flow_id": list(range(1, n + 1)), "src_ip": src, "dst_ip": dst,
        "src_port": [40000 + i for i in range(n)],
        "dst_port": [1000 + i for i in range(n)],  # every flow another port, as a scan's
        "proto": ["TCP"] * n, "start": start,
        "end": [s + timedelta(milliseconds=50) for s in start],
        "packets_fwd": [5] * n, "packets_bwd": [4] * n, "bytes_fwd": [400] * n,
        "bytes_bwd": [900] * n, "rst_count": [0] * n, "label": label,
        "confidence": [0.9] * n, "attack_score": [0.9 if x != BENIGN else 0.1 for x in label],
        "unlike_training": unlike, "evidence": [None] * n,
        "content_hash": list(range(1, n + 1)),  # every flow different
    }, schema_overrides={"start": pl.Datetime("ns", "UTC"), "end": pl.Datetime("ns", "UTC"),
                         "evidence": pl.List(pl.String), "content_hash": pl.UInt64})

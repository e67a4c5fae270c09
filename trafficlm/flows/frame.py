"""Flows as a polars table: the stable, machine-readable face of the flow table.

``flow_id, start, end, src_ip, src_port, dst_ip, dst_port, proto,
packets_fwd, packets_bwd, bytes_fwd, bytes_bwd`` are a contract (see
DESIGN.md); more columns may be added after them, never renamed.
"""

from __future__ import annotations

import ipaddress

import numpy as np
import polars as pl

from trafficlm.flows.context import CONTEXT_COLUMNS
from trafficlm.flows.records import TCP_FLAG_NAMES, EndReason, FlowBatch

PROTO_NAMES = {1: "ICMP", 2: "IGMP", 6: "TCP", 17: "UDP", 41: "IPv6", 47: "GRE", 50: "ESP",
               51: "AH", 58: "IPv6-ICMP", 89: "OSPF", 103: "PIM", 112: "VRRP", 132: "SCTP"}
END_REASON_NAMES = {reason.value: reason.name.lower() for reason in EndReason}
IPV4_MAPPED = 0x0000FFFF00000000


def flows_frame(flows: FlowBatch, capture: str | None = None) -> pl.DataFrame:
    """One row per flow, initiator as source."""
    ns = pl.Datetime("ns", "UTC")
    frame = pl.DataFrame({
        "flow_id": flows.flow_id,
        "start": pl.Series(flows.start_ns).cast(ns),
        "end": pl.Series(flows.last_ns).cast(ns),
        "src_ip": addresses(flows.init_hi, flows.init_lo),
        "src_port": flows.init_port,
        "dst_ip": addresses(flows.resp_hi, flows.resp_lo),
        "dst_port": flows.resp_port,
        "proto": [PROTO_NAMES.get(p, str(p)) for p in flows.proto.tolist()],
        "packets_fwd": flows.packets_fwd,
        "packets_bwd": flows.packets_bwd,
        "bytes_fwd": flows.bytes_fwd,
        "bytes_bwd": flows.bytes_bwd,
        "duration_s": (flows.last_ns - flows.start_ns) / 1e9,
        "payload_bytes_fwd": flows.payload_bytes_fwd,
        "payload_bytes_bwd": flows.payload_bytes_bwd,
        **{f"{flag}_count": getattr(flows, f"{flag}_count") for flag in TCP_FLAG_NAMES},
        "end_reason": [END_REASON_NAMES[r] for r in flows.end_reason.tolist()],
        **{name: getattr(flows, name) for name in CONTEXT_COLUMNS},
    })
    if capture is not None:
        frame = frame.with_columns(pl.lit(capture).alias("capture"))
    return frame


def addresses(hi: np.ndarray, lo: np.ndarray) -> pl.Series:
    """Text form of 128-bit addresses; IPv4-mapped ones print as dotted quads.

    Built column-wise (a flow table's worth of Python string formatting was a tenth
    of ``trafficlm flows``); only the IPv6 addresses go through ``ipaddress``."""
    hi, lo = np.asarray(hi, np.uint64), np.asarray(lo, np.uint64)
    v4 = (hi == 0) & ((lo >> np.uint64(32)) == np.uint64(0xFFFF))
    octets = [pl.Series(((lo >> np.uint64(shift)) & np.uint64(255)).astype(np.uint8))
              .cast(pl.String) for shift in (24, 16, 8, 0)]
    text = pl.select(pl.concat_str(octets, separator=".")).to_series()
    v6 = np.flatnonzero(~v4)
    if len(v6):
        spelled = [str(ipaddress.IPv6Address((h << 64) | low))
                   for h, low in zip(hi[v6].tolist(), lo[v6].tolist(), strict=True)]
        text = text.scatter(v6, spelled)
    return text.alias("")

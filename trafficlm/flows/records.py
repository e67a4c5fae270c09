"""Completed flows as columns: one row per flow, plus its first packets.

A :class:`FlowBatch` is what the flow table hands on. Flow-level columns
have shape ``[n]``; the first-packet columns have shape ``[n, P]`` (row
``i`` holds ``n_stored[i]`` valid packets; entries past that are undefined)
and ``payload`` is ``[n, P, B]`` (bytes past ``pkt_payload_cap`` are zero).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np

from trafficlm.flows.context import CONTEXT_COLUMNS
from trafficlm.hashing import mix64

# 53 bits: flow ids stay exact in JSON consumers that parse numbers as doubles (jq).
FLOW_ID_MASK = np.uint64((1 << 53) - 1)


class EndReason(enum.IntEnum):
    """Why the flow table emitted a flow."""

    IDLE = 0  # no packet for the idle timeout
    ACTIVE = 1  # lasted longer than the active timeout; the rest is a new flow
    FIN = 2  # both sides sent FIN
    RST = 3  # a side sent RST
    EOF = 4  # still open when the input ended
    EVICTED = 5  # pushed out to stay within the flow-table cap


TCP_FLAG_NAMES = ("fin", "syn", "rst", "psh", "ack", "urg", "ece", "cwr")

# name -> (dtype, per packet?, per payload byte?)
FLOW_COLUMNS: dict[str, tuple[type, bool, bool]] = {
    "init_hi": (np.uint64, False, False),
    "init_lo": (np.uint64, False, False),
    "resp_hi": (np.uint64, False, False),
    "resp_lo": (np.uint64, False, False),
    "init_port": (np.int32, False, False),
    "resp_port": (np.int32, False, False),
    "proto": (np.uint8, False, False),
    "ip_version": (np.uint8, False, False),
    "start_ns": (np.int64, False, False),
    "last_ns": (np.int64, False, False),
    "packets_fwd": (np.int64, False, False),
    "packets_bwd": (np.int64, False, False),
    "bytes_fwd": (np.int64, False, False),
    "bytes_bwd": (np.int64, False, False),
    "payload_bytes_fwd": (np.int64, False, False),
    "payload_bytes_bwd": (np.int64, False, False),
    **{f"{flag}_count": (np.int32, False, False) for flag in TCP_FLAG_NAMES},
    "fin_fwd": (np.bool_, False, False),
    "fin_bwd": (np.bool_, False, False),
    "init_is_low": (np.bool_, False, False),
    "end_reason": (np.uint8, False, False),
    # what the same hosts did in the minute before the flow began (flows/context.py)
    **{name: (np.int32, False, False) for name in CONTEXT_COLUMNS},
    # the first P packets, in arrival order
    "pkt_ts_ns": (np.int64, True, False),
    "pkt_direction": (np.uint8, True, False),  # 0 initiator -> responder, 1 back
    "pkt_ip_len": (np.int32, True, False),
    "pkt_ip_payload_len": (np.int32, True, False),
    "pkt_ttl": (np.uint8, True, False),
    "pkt_tcp_flags": (np.uint16, True, False),
    "pkt_tcp_window": (np.uint16, True, False),
    "pkt_tcp_options": (np.uint8, True, False),
    "pkt_udp_len": (np.int32, True, False),
    "pkt_icmp_type": (np.int16, True, False),
    "pkt_icmp_code": (np.int16, True, False),
    "pkt_fragment": (np.bool_, True, False),
    "pkt_payload_len": (np.int32, True, False),  # what the headers claim
    "pkt_payload_cap": (np.int32, True, False),  # how many bytes are in `payload`
    "payload": (np.uint8, True, True),
}


@dataclass
class FlowBatch:
    """Completed flows; every attribute is a numpy array with one row per flow."""

    flow_id: np.ndarray
    n_stored: np.ndarray  # how many of the first-packet rows are filled
    columns: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.flow_id)

    def __getattr__(self, name: str) -> np.ndarray:
        try:
            return self.__dict__["columns"][name]
        except KeyError:
            raise AttributeError(name) from None

    def select(self, rows: np.ndarray) -> FlowBatch:
        """The flows picked by a boolean mask or an index array."""
        return FlowBatch(self.flow_id[rows], self.n_stored[rows],
                         {name: col[rows] for name, col in self.columns.items()})

    @staticmethod
    def concat(batches: list[FlowBatch]) -> FlowBatch:
        """One batch holding the rows of all ``batches`` in order."""
        if not batches:
            raise ValueError("concat needs at least one FlowBatch")
        names = batches[0].columns.keys()
        return FlowBatch(
            np.concatenate([b.flow_id for b in batches]),
            np.concatenate([b.n_stored for b in batches]),
            {name: np.concatenate([b.columns[name] for b in batches]) for name in names},
        )


def compute_flow_ids(columns: dict[str, np.ndarray]) -> np.ndarray:
    """A stable 53-bit id from the initiator-ordered 5-tuple and the start time.

    The same flow read twice, from the file or live, gets the same id.
    """
    ports = (columns["init_port"].astype(np.uint64) << np.uint64(24)) | (
        columns["resp_port"].astype(np.uint64) << np.uint64(8)) | columns["proto"].astype(np.uint64)
    h = np.zeros(len(ports), np.uint64)
    for name in ("init_hi", "init_lo", "resp_hi", "resp_lo", "start_ns"):
        h = mix64(h ^ columns[name].astype(np.uint64))
    return mix64(h ^ ports) & FLOW_ID_MASK


def empty_columns(rows: int, packets: int, payload_bytes: int) -> dict[str, np.ndarray]:
    """Zeroed flow columns for ``rows`` flows."""
    columns = {}
    for name, (dtype, per_packet, per_byte) in FLOW_COLUMNS.items():
        shape = (rows, packets, payload_bytes) if per_byte else (
            (rows, packets) if per_packet else (rows,))
        columns[name] = np.zeros(shape, dtype)
    return columns

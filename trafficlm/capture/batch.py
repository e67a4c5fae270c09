"""Columnar containers for packets: one numpy array per field, one row per packet.

Everything downstream (flow table, tokenizer, sensor) works on whole arrays,
never on per-packet Python objects: that is what lets ingest run at hundreds of
thousands of packets per second in pure Python.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np


class PacketStatus(enum.IntEnum):
    """Why a packet did or did not become part of a flow."""

    OK = 0
    NON_IP = 1  # a frame that carries no IPv4/IPv6 (ARP, LLDP, STP, ...)
    UNSUPPORTED_LINK = 2  # a link type we do not decode (802.11, ...)
    MALFORMED = 3  # headers cut short or inconsistent


@dataclass
class RecordBatch:
    """Framed capture records: where each packet's bytes are and when it was seen.

    ``buf`` holds the raw bytes of one chunk of the file; ``data_off`` points
    into it. ``file_offset`` is each record's position in the (uncompressed)
    capture file, for error messages and for extracting packets later.
    """

    buf: np.ndarray  # uint8
    data_off: np.ndarray  # int64
    caplen: np.ndarray  # int64
    wirelen: np.ndarray  # int64
    ts_ns: np.ndarray  # int64, nanoseconds since the epoch (UTC)
    linktype: np.ndarray  # int32
    file_offset: np.ndarray  # int64

    def __len__(self) -> int:
        return len(self.data_off)


@dataclass
class PacketBatch:
    """Decoded header fields of a batch of packets (rows line up with a RecordBatch).

    Addresses are 128-bit big-endian numbers split into two uint64 halves;
    IPv4 addresses are stored IPv4-mapped (``::ffff:a.b.c.d``) so that one
    comparison orders both families. Fields that do not apply are zero.
    """

    buf: np.ndarray
    ts_ns: np.ndarray
    wirelen: np.ndarray
    file_offset: np.ndarray
    status: np.ndarray  # uint8, PacketStatus
    ip_version: np.ndarray  # uint8: 4, 6 or 0
    src_hi: np.ndarray  # uint64
    src_lo: np.ndarray
    dst_hi: np.ndarray
    dst_lo: np.ndarray
    proto: np.ndarray  # uint8, IP protocol (the last header of an IPv6 chain)
    sport: np.ndarray  # int32; 0 where the protocol has no ports
    dport: np.ndarray
    ip_len: np.ndarray  # int32, IP packet length from the IP header
    ip_payload_len: np.ndarray  # int64, what follows the IP header(s), from the header
    ttl: np.ndarray  # uint8, TTL or hop limit
    ip_id: np.ndarray  # uint32, IPv4 id or IPv6 fragment id
    frag_offset: np.ndarray  # int32, in bytes
    more_fragments: np.ndarray  # bool
    tcp_flags: np.ndarray  # uint16 (FIN=1 ... CWR=0x80, NS=0x100)
    tcp_seq: np.ndarray  # uint32
    tcp_ack: np.ndarray  # uint32
    tcp_window: np.ndarray  # uint16
    tcp_options: np.ndarray  # uint8 bit set, see TcpOption
    udp_len: np.ndarray  # int32
    icmp_type: np.ndarray  # int16, -1 where not ICMP
    icmp_code: np.ndarray  # int16
    payload_off: np.ndarray  # int64, into buf
    payload_len: np.ndarray  # int32, L4 payload length the headers claim
    payload_cap: np.ndarray  # int32, how much of it was captured

    def __len__(self) -> int:
        return len(self.ts_ns)


class TcpOption(enum.IntFlag):
    """Which TCP options a segment carries (presence only, never their values)."""

    MSS = 1
    WINDOW_SCALE = 2
    SACK_PERMITTED = 4
    SACK = 8
    TIMESTAMP = 16


class TcpFlag(enum.IntFlag):
    FIN = 0x01
    SYN = 0x02
    RST = 0x04
    PSH = 0x08
    ACK = 0x10
    URG = 0x20
    ECE = 0x40
    CWR = 0x80
    NS = 0x100

"""Where each token sits, and what each position can be traced back to.

A flow is laid out as ``[CLS] proto service`` and its whole-flow totals
(packets and bytes each way, duration; log2 buckets), with context the flow's
session context (what its hosts did in the minute before; flows/context.py), then,
for each of the first
P packets, ``[PKT] dir iat len ttl <protocol fields> byte*shown [TRUNC]``:
protocol fields are TCP flags, window and options; the UDP length; or the
ICMP type and code. ``shown`` is at most B payload bytes, and ``[TRUNC]``
follows when the packet carried more. The sequence is cut at the maximum
length with room left for the closing ``[SEP]``, then padded.
"""

from __future__ import annotations

import enum

FLOW_HEADER_SLOTS = 8  # [CLS], proto, service, packets and bytes each way, duration
CONTEXT_SLOTS = 6  # with context: five counts and the gap regularity
PACKET_HEADER_SLOTS = 5  # [PKT], dir, iat, len, ttl


class Slot(enum.IntEnum):
    """What a token position holds; recorded for every token as provenance."""

    CLS = 0
    PROTO = 1
    SERVICE = 2
    PACKET = 3
    DIRECTION = 4
    IAT = 5
    LENGTH = 6
    TTL = 7
    TCP_FLAGS = 8
    TCP_WINDOW = 9
    TCP_OPTIONS = 10
    UDP_LENGTH = 11
    ICMP_TYPE = 12
    ICMP_CODE = 13
    PAYLOAD = 14
    TRUNCATED = 15
    SEP = 16
    PAD = 17
    FWD_PACKETS = 18
    BWD_PACKETS = 19
    FWD_BYTES = 20
    BWD_BYTES = 21
    DURATION = 22
    CTX_SRC_FLOWS = 23
    CTX_PAIR_FLOWS = 24
    CTX_DST_PORTS = 25
    CTX_PORT_HOSTS = 26
    CTX_DST_SOURCES = 27
    CTX_REGULARITY = 28


SLOT_NAMES = {
    Slot.CLS: "flow start", Slot.PROTO: "IP protocol", Slot.SERVICE: "service port",
    Slot.PACKET: "packet start", Slot.DIRECTION: "direction", Slot.IAT: "inter-arrival time",
    Slot.LENGTH: "IP payload length", Slot.TTL: "TTL class", Slot.TCP_FLAGS: "TCP flags",
    Slot.TCP_WINDOW: "TCP window", Slot.TCP_OPTIONS: "TCP options", Slot.UDP_LENGTH: "UDP length",
    Slot.ICMP_TYPE: "ICMP type", Slot.ICMP_CODE: "ICMP code", Slot.PAYLOAD: "payload",
    Slot.TRUNCATED: "payload truncated", Slot.SEP: "flow end", Slot.PAD: "padding",
    Slot.FWD_PACKETS: "packets from the initiator", Slot.BWD_PACKETS: "packets back",
    Slot.FWD_BYTES: "bytes from the initiator", Slot.BWD_BYTES: "bytes back",
    Slot.DURATION: "flow duration",
    Slot.CTX_SRC_FLOWS: "flows its initiator began in the minute before",
    Slot.CTX_PAIR_FLOWS: "earlier flows from its initiator to the same host and port",
    Slot.CTX_DST_PORTS: "ports its initiator tried on that host",
    Slot.CTX_PORT_HOSTS: "hosts its initiator tried on that port",
    Slot.CTX_DST_SOURCES: "hosts that reached the same port",
    Slot.CTX_REGULARITY: "regularity of the gaps between such flows",
}

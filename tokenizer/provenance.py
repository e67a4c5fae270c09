"""Provenance read back from token ids alone, for flows kept only as ids (training sets).

The encoder records where each token came from while it lays a flow out
(``TrafficTokenizer.provenance``). The layout makes that recoverable from
the ids: a token's id range names its field, ``[PKT]`` tokens count the
packets, and payload bytes run from each packet's first byte. So a model can
be explained on a training set's test flows exactly as triage explains live
flows, without the captures.
"""

from __future__ import annotations

import numpy as np

from trafficlm.tokenizer import vocab as V
from trafficlm.tokenizer.encoder import Provenance
from trafficlm.tokenizer.layout import Slot

SLOT_OF_FIELD = {
    "proto": Slot.PROTO, "service": Slot.SERVICE, "direction": Slot.DIRECTION, "iat": Slot.IAT,
    "length": Slot.LENGTH, "ttl": Slot.TTL, "tcp_flags": Slot.TCP_FLAGS,
    "tcp_window": Slot.TCP_WINDOW, "tcp_options": Slot.TCP_OPTIONS,
    "udp_length": Slot.UDP_LENGTH, "icmp_type": Slot.ICMP_TYPE, "icmp_code": Slot.ICMP_CODE,
    "byte": Slot.PAYLOAD, "fwd_packets": Slot.FWD_PACKETS, "bwd_packets": Slot.BWD_PACKETS,
    "fwd_bytes": Slot.FWD_BYTES, "bwd_bytes": Slot.BWD_BYTES, "duration": Slot.DURATION,
    "ctx_src_flows": Slot.CTX_SRC_FLOWS, "ctx_pair_flows": Slot.CTX_PAIR_FLOWS,
    "ctx_dst_ports": Slot.CTX_DST_PORTS, "ctx_port_hosts": Slot.CTX_PORT_HOSTS,
    "ctx_dst_sources": Slot.CTX_DST_SOURCES, "ctx_regularity": Slot.CTX_REGULARITY,
}
SLOT_OF_SPECIAL = {V.PAD: Slot.PAD, V.CLS: Slot.CLS, V.SEP: Slot.SEP, V.PKT: Slot.PACKET,
                   V.TRUNC: Slot.TRUNCATED}


def provenance_of_ids(vocab: V.Vocabulary, ids: np.ndarray) -> Provenance:
    """Slot kind, packet index and payload byte offset of every token of ``ids`` [n, length]
    (the same arrays ``TrafficTokenizer.provenance`` gives for the flows they encode)."""
    ids = np.asarray(ids, np.int64)
    slot_of_id = np.full(len(vocab), Slot.PAD, np.int8)
    for name, field in vocab.fields.items():
        if name in SLOT_OF_FIELD:
            slot_of_id[field.base : field.base + field.size] = SLOT_OF_FIELD[name]
    for token, slot in SLOT_OF_SPECIAL.items():
        slot_of_id[token] = slot
    slot = slot_of_id[np.clip(ids, 0, len(vocab) - 1)]
    is_packet = slot == Slot.PACKET
    in_packets = (np.cumsum(is_packet, axis=1) - 1).astype(np.int16)
    outside = np.isin(slot, (Slot.SEP, Slot.PAD)) | (in_packets < 0)
    packet = np.where(outside, -1, in_packets).astype(np.int16)
    is_byte = slot == Slot.PAYLOAD
    bytes_so_far = np.cumsum(is_byte, axis=1)
    # bytes counted up to each packet's [PKT], carried forward to the packet's tokens
    at_packet_start = np.where(is_packet, bytes_so_far, 0)
    before_packet = np.maximum.accumulate(at_packet_start, axis=1)
    offset = np.where(is_byte, bytes_so_far - before_packet - 1, -1).astype(np.int16)
    return Provenance(slot=slot, packet=packet, byte_offset=offset)

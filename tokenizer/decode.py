"""Token ids back into something a person can read: fields per packet, payload bytes."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from trafficlm.tokenizer import vocab as V

CONTEXT_WORDS = {"ctx_src_flows": "flows from its initiator", "ctx_pair_flows": "to this service",
                 "ctx_dst_ports": "ports on this host", "ctx_port_hosts": "hosts on this port",
                 "ctx_dst_sources": "hosts reaching this port", "ctx_regularity": "gaps"}
PER_PACKET_FIELDS = ("tcp_flags", "tcp_window", "tcp_options", "udp_length", "icmp_type",
                     "icmp_code")


@dataclass
class DecodedPacket:
    index: int
    direction: str = ""  # "fwd" (initiator to responder) or "bwd"
    iat: str = ""
    length: str = ""
    ttl: str = ""
    fields: dict[str, str] = field(default_factory=dict)
    payload: bytes = b""
    truncated: bool = False  # more payload than the tokens show


@dataclass
class DecodedFlow:
    proto: str = ""
    service: str = ""
    totals: dict[str, str] = field(default_factory=dict)  # V.FLOW_STAT_FIELDS -> bucket
    context: dict[str, str] = field(default_factory=dict)  # session-context field -> bucket
    packets: list[DecodedPacket] = field(default_factory=list)
    closed: bool = False  # the ids end with [SEP]


def _value(token: str) -> str:
    return token.split(":", 1)[1] if ":" in token else token


def decode(vocab: V.Vocabulary, ids: np.ndarray) -> DecodedFlow:
    """Read one flow's ids (padding allowed) back into fields and bytes."""
    flow = DecodedFlow()
    packet: DecodedPacket | None = None
    payload = bytearray()
    for token_id in np.asarray(ids).tolist():
        kind = vocab.field_of(token_id).name if 0 <= token_id < len(vocab) else "special"
        text = vocab.token(token_id)
        if token_id in (V.PKT, V.SEP) and packet is not None:
            packet.payload, payload = bytes(payload), bytearray()
        if token_id == V.PKT:
            packet = DecodedPacket(index=len(flow.packets))
            flow.packets.append(packet)
        elif token_id == V.SEP:
            flow.closed = True
            break
        elif kind in ("proto", "service"):
            setattr(flow, kind, _value(text))
        elif kind in V.FLOW_STAT_FIELDS:
            flow.totals[kind] = _value(text)
        elif kind.startswith("ctx_"):
            flow.context[kind] = text.rsplit(":", 1)[1]
        elif packet is None:
            continue
        elif kind == "byte":
            payload.append(token_id - vocab["byte"].base)
        elif token_id == V.TRUNC:
            packet.truncated = True
        elif kind in ("direction", "iat", "length", "ttl"):
            setattr(packet, kind, _value(text))
        elif kind in PER_PACKET_FIELDS:
            packet.fields[kind] = _value(text)
    if packet is not None and payload:
        packet.payload = bytes(payload)
    return flow


def printable(data: bytes) -> str:
    """Payload bytes as text a person can read: ASCII kept, the rest escaped."""
    out = []
    for b in data:
        if b in (0x0D, 0x0A, 0x09):
            out.append({0x0D: "\\r", 0x0A: "\\n", 0x09: "\\t"}[b])
        elif 0x20 <= b < 0x7F and b != 0x5C:
            out.append(chr(b))
        else:
            out.append(f"\\x{b:02x}")
    return "".join(out)


def human_bucket(text: str) -> str:
    """'<2^10us' -> '<1.0ms', '<2^16' -> '<65536': bucket names as a person reads them."""
    if not text.startswith("<2^"):
        return text
    power = int(text[3:].rstrip("us"))
    if not text.endswith("us"):
        return f"<{2**power}"
    micros = 2**power
    for unit, size in (("s", 1_000_000), ("ms", 1_000)):
        if micros >= size:
            return f"<{micros / size:.3g}{unit}"
    return f"<{micros}us"


def count_range(bucket: str) -> str:
    """'<2^10' -> '512-1,023': a log2 count bucket as the counts it holds."""
    if not bucket.startswith("<2^"):
        return bucket
    power = int(bucket[3:])
    low, high = 2 ** (power - 1), 2**power - 1
    return f"{low:,}" if low == high else f"{low:,}-{high:,}"


def render(flow: DecodedFlow, title: str = "") -> str:
    """A table of what the model sees for one flow, one line per packet."""
    service = flow.service
    port = service.isdigit() and int(service)
    if port and port in V.SERVICE_NAMES:
        service += f" ({V.SERVICE_NAMES[port]})"
    lines = [title] if title else []
    lines.append(f"  {flow.proto}, service {service}, {len(flow.packets)} packet(s) shown")
    if flow.totals:
        lines.append("  whole flow: " + ", ".join(
            f"{k.replace('_', ' ')} {human_bucket(v)}" for k, v in flow.totals.items()))
    if flow.context:
        lines.append("  before it: " + ", ".join(
            f"{CONTEXT_WORDS[k]} {count_range(v)}" for k, v in flow.context.items()))
    lines.append(f"  {'#':>2}  {'dir':<3}  {'gap':<10}  {'IP payload':<10}  {'TTL':<5}  "
                 f"fields")
    for p in flow.packets:
        arrow = "->" if p.direction == "fwd" else "<-"
        fields = "  ".join(f"{k.replace('_', ' ')} {human_bucket(v)}"
                           for k, v in p.fields.items())
        lines.append(f"  {p.index + 1:>2}  {arrow:<3}  {human_bucket(p.iat):<10}  {p.length:<10}  "
                     f"{p.ttl:<5}  {fields}".rstrip())
        if p.payload:
            more = " (more follows)" if p.truncated else ""
            lines.append(f"      payload {len(p.payload)} bytes{more}: {printable(p.payload)}")
    return "\n".join(lines)

"""TrafficTokenizer: completed flows -> token id matrices, provenance, and back.

Encoding is columnar: a whole FlowBatch becomes one token grid with numpy
(see ``layout``), so tens of thousands of flows per second encode on one
core. The reference encoder in ``reference.py`` spells out the same ids one
packet at a time and is the test oracle for this one.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from trafficlm.errors import TrafficLMError
from trafficlm.flows import FlowBatch
from trafficlm.hashing import mix64
from trafficlm.tokenizer import vocab as V
from trafficlm.tokenizer.layout import (
    CONTEXT_SLOTS,
    FLOW_HEADER_SLOTS,
    PACKET_HEADER_SLOTS,
    Slot,
)

CONFIG_FILE = "tokenizer_config.json"
TCP, UDP, ICMP, ICMPV6 = 6, 17, 1, 58


class TokenizerError(TrafficLMError):
    """A tokenizer directory or setting that cannot be used."""


@dataclass(frozen=True)
class TokenizerConfig:
    """How much of each flow the model sees (see tokenizer/README.md for the defaults)."""

    packets: int = 8  # P: first packets per flow
    payload_bytes: int = 48  # B: first payload bytes per packet
    max_length: int = 256  # tokens per flow, [CLS] and [SEP] included
    context: bool = False  # the flow's session context after its totals (flows/context.py)
    # 0: off. Else an HTTP request's first ``query_window`` bytes, then its bytes from the
    # request line's '?': a deep page (/portal/modules/inventory/query.aspx) would leave
    # the query, where injections are, past the first payload bytes the model reads
    query_window: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.packets <= 64 or not 0 <= self.payload_bytes <= 1500:
            raise TokenizerError("tokenizer packets must be 1-64 and payload_bytes 0-1500")
        if not 0 <= self.query_window < max(1, self.payload_bytes):
            raise TokenizerError("tokenizer query_window must be 0 or less than payload_bytes")
        if self.max_length < self.header_slots + PACKET_HEADER_SLOTS + 1:
            raise TokenizerError(f"tokenizer max_length {self.max_length} is too short")

    @property
    def header_slots(self) -> int:
        """Tokens before the first packet."""
        return FLOW_HEADER_SLOTS + (CONTEXT_SLOTS if self.context else 0)


@dataclass
class EncodedFlows:
    """Token ids of a batch of flows, padded to ``max_length``."""

    ids: np.ndarray  # int32 [n, max_length]
    attention_mask: np.ndarray  # int8 [n, max_length]: 1 for real tokens
    lengths: np.ndarray  # int64 [n], [CLS] to [SEP] inclusive
    content_hash: np.ndarray  # uint64 [n]: equal ids <=> equal hash (floods score once)


@dataclass
class Provenance:
    """Where every token came from: slot kind, packet index, payload byte offset (-1: none)."""

    slot: np.ndarray  # int8 [n, max_length], a layout.Slot
    packet: np.ndarray  # int16 [n, max_length]
    byte_offset: np.ndarray  # int16 [n, max_length]


@dataclass
class _Part:
    """Some tokens: their flow row, position, id, slot kind, packet and byte offset."""

    rows: np.ndarray
    positions: np.ndarray
    ids: np.ndarray | int
    slots: np.ndarray | int
    packets: np.ndarray | int
    offsets: np.ndarray | int


@dataclass
class _Tokens:
    """All tokens of a batch of flows, flat, before cutting to the maximum length."""

    rows: np.ndarray
    positions: np.ndarray
    ids: np.ndarray
    slots: np.ndarray
    packets: np.ndarray
    offsets: np.ndarray
    flow_lengths: np.ndarray  # tokens per flow before [SEP]

    @staticmethod
    def join(parts: list[_Part], flow_lengths: np.ndarray) -> _Tokens:
        def cat(name: str, dtype) -> np.ndarray:
            return np.concatenate([np.broadcast_to(np.asarray(getattr(p, name), dtype),
                                                   p.rows.shape) for p in parts])

        return _Tokens(cat("rows", np.int64), cat("positions", np.int64), cat("ids", np.int32),
                       cat("slots", np.int8), cat("packets", np.int16), cat("offsets", np.int16),
                       flow_lengths)


class _PacketView:
    """The present packets of a batch of flows, flattened to one row per packet."""

    def __init__(self, flows: FlowBatch, rows: np.ndarray, pk: np.ndarray, proto: np.ndarray,
                 config: TokenizerConfig) -> None:
        self.flows, self.rows, self.pk, self.proto = flows, rows, pk, proto
        self.is_tcp, self.is_udp = proto == TCP, proto == UDP
        self.icmp_type = self.column("pkt_icmp_type")
        self.is_icmp = np.isin(proto, (ICMP, ICMPV6)) & (self.icmp_type >= 0)
        self.n_fields = np.select([self.is_tcp, self.is_udp, self.is_icmp], [3, 1, 2], 0)
        cap = self.column("pkt_payload_cap")
        self.head = config.query_window
        # bytes skipped after the head: up to the query of an HTTP request, else none
        self.skip = query_skips(flows.payload, rows, pk, cap, self.is_tcp, self.head)
        self.shown = np.minimum(cap - self.skip, config.payload_bytes)
        self.shown[V.is_icmp_error(proto, self.icmp_type)] = 0
        self.truncated = (self.column("pkt_payload_len") > self.shown + self.skip).astype(np.int64)

    def column(self, name: str) -> np.ndarray:
        return getattr(self.flows, name)[self.rows, self.pk].astype(np.int64)

    def iat_bucket(self) -> np.ndarray:
        """0 for a flow's first packet, else 1 + log2 bucket of the gap in microseconds."""
        ts = self.column("pkt_ts_ns")
        previous = self.flows.pkt_ts_ns[self.rows, np.maximum(self.pk - 1, 0)].astype(np.int64)
        bucket = 1 + V.log2_bucket((ts - previous) // 1000, V.IAT_BUCKETS)
        return np.where(self.pk == 0, 0, bucket)

    def protocol_fields(self, f: V.Vocabulary) -> list[tuple[np.ndarray, np.ndarray]]:
        """(ids, slot kinds) of the up to three protocol fields of every packet."""
        tcp, udp = self.is_tcp, self.is_udp
        code = np.clip(self.column("pkt_icmp_code"), 0, V.ICMP_CODES)
        first = np.where(tcp, f["tcp_flags"].base + (self.column("pkt_tcp_flags") & 0xFF),
                         np.where(udp, f["udp_length"].base
                                  + V.length_bucket(self.column("pkt_udp_len")),
                                  f["icmp_type"].base + np.clip(self.icmp_type, 0, 255)))
        second = np.where(tcp, f["tcp_window"].base + V.log2_bucket(
            self.column("pkt_tcp_window"), V.WINDOW_BUCKETS), f["icmp_code"].base + code)
        third = f["tcp_options"].base + self.column("pkt_tcp_options")
        return [(first, np.select([tcp, udp], [Slot.TCP_FLAGS, Slot.UDP_LENGTH], Slot.ICMP_TYPE)),
                (second, np.where(tcp, Slot.TCP_WINDOW, Slot.ICMP_CODE)),
                (third, np.full(len(third), Slot.TCP_OPTIONS))]


def query_skips(payload: np.ndarray, rows: np.ndarray, pk: np.ndarray, cap: np.ndarray,
                is_tcp: np.ndarray, head: int) -> np.ndarray:
    """Per packet (flow ``rows``, packet ``pk`` of ``payload``, ``cap`` bytes stored): the
    bytes between ``head`` and the query of an HTTP request line (its '?') when the query
    starts past ``head``; else 0. Only requests are copied out, so the window costs little
    where there are none."""
    skips = np.zeros(len(rows), np.int64)
    if head == 0 or not len(rows):
        return skips
    prefix = payload[rows, pk, :4].astype(np.uint32)
    words = (prefix[:, 0] << 24) | (prefix[:, 1] << 16) | (prefix[:, 2] << 8) | prefix[:, 3]
    requests = np.flatnonzero(is_tcp & (cap > head) & np.isin(words, V.HTTP_METHOD_WORDS))
    if not len(requests):
        return skips
    lines = payload[rows[requests], pk[requests]]
    stored = np.arange(lines.shape[1]) < cap[requests, None]
    line_end = np.where(((lines == 13) | (lines == 10)) & stored, np.arange(lines.shape[1]),
                        lines.shape[1]).min(axis=1)
    marks = (lines == ord("?")) & stored
    first = np.where(marks.any(axis=1), marks.argmax(axis=1), lines.shape[1])
    found = (first > head) & (first < line_end)
    skips[requests[found]] = first[found] - head
    return skips


def flow_totals(f: V.Vocabulary, flows: FlowBatch) -> list[tuple[np.ndarray, Slot]]:
    """Whole-flow packets and bytes each way and the duration, as (ids, slot) columns."""
    duration_us = (flows.last_ns - flows.start_ns) // 1000
    return [(f[name].base + V.log2_bucket(values, f[name].size), slot) for name, values, slot in (
        ("fwd_packets", flows.packets_fwd, Slot.FWD_PACKETS),
        ("bwd_packets", flows.packets_bwd, Slot.BWD_PACKETS),
        ("fwd_bytes", flows.bytes_fwd, Slot.FWD_BYTES),
        ("bwd_bytes", flows.bytes_bwd, Slot.BWD_BYTES),
        ("duration", duration_us, Slot.DURATION))]


CONTEXT_SLOT_OF = {"ctx_src_flows": Slot.CTX_SRC_FLOWS, "ctx_pair_flows": Slot.CTX_PAIR_FLOWS,
                   "ctx_dst_ports": Slot.CTX_DST_PORTS, "ctx_port_hosts": Slot.CTX_PORT_HOSTS,
                   "ctx_dst_sources": Slot.CTX_DST_SOURCES}


def session_context(f: V.Vocabulary, flows: FlowBatch) -> list[tuple[np.ndarray, Slot]]:
    """The flow's session context as (ids, slot) columns: counts in log2 buckets, then the
    regularity bucket."""
    counts = [(f[name].base + V.log2_bucket(getattr(flows, name), V.CONTEXT_BUCKETS), slot)
              for name, slot in CONTEXT_SLOT_OF.items()]
    regularity = np.clip(flows.ctx_regularity, 0, len(V.REGULARITY_NAMES) - 1)
    return [*counts, (f["ctx_regularity"].base + regularity.astype(np.int64),
                      Slot.CTX_REGULARITY)]


class TrafficTokenizer:
    """Turns flows into token ids the model reads; never sees an identity field."""

    def __init__(self, config: TokenizerConfig | None = None) -> None:
        self.config = config or TokenizerConfig()
        self.vocab = V.Vocabulary(self.config.context)

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    # -- encoding ------------------------------------------------------------

    def encode(self, flows: FlowBatch) -> EncodedFlows:
        tokens = self._tokens(flows)
        ids = self._place(tokens, tokens.ids, V.PAD, V.SEP)
        h = np.zeros(len(ids), np.uint64)
        for column in ids.T:
            h = mix64(h ^ column.astype(np.uint64))
        lengths = np.minimum(tokens.flow_lengths, self.config.max_length - 1) + 1
        return EncodedFlows(ids, (ids != V.PAD).astype(np.int8), lengths, h)

    def provenance(self, flows: FlowBatch) -> Provenance:
        """Token provenance for explanations: "packet 3, TCP flags", "payload bytes 0-15"."""
        tokens = self._tokens(flows)
        return Provenance(slot=self._place(tokens, tokens.slots, Slot.PAD, Slot.SEP),
                          packet=self._place(tokens, tokens.packets, -1, -1),
                          byte_offset=self._place(tokens, tokens.offsets, -1, -1))

    def _place(self, tokens: _Tokens, values: np.ndarray, fill: int, close: int) -> np.ndarray:
        """Scatter per-token values into [flows, max_length], cut, closed and padded."""
        max_len = self.config.max_length
        out = np.full((len(tokens.flow_lengths), max_len), fill, values.dtype)
        keep = tokens.positions < max_len - 1
        out[tokens.rows[keep], tokens.positions[keep]] = values[keep]
        out[np.arange(len(out)), np.minimum(tokens.flow_lengths, max_len - 1)] = close
        return out

    def _tokens(self, flows: FlowBatch) -> _Tokens:
        """Every token of every flow as flat arrays, in O(tokens) numpy work."""
        P, B = self.config.packets, self.config.payload_bytes
        stored_p, stored_b = flows.payload.shape[1:]
        if stored_p < P or stored_b < B:
            raise TokenizerError(f"flows keep {stored_p} packets x {stored_b} payload bytes; "
                                 f"the tokenizer needs {P} x {B}")
        n, proto = len(flows), flows.proto.astype(np.int64)
        rows, pk = np.nonzero(np.arange(P) < flows.n_stored[:, None])
        packets = _PacketView(flows, rows, pk, proto[rows], self.config)
        count = PACKET_HEADER_SLOTS + packets.n_fields + packets.shown + packets.truncated
        per_flow = np.bincount(rows, weights=count, minlength=n).astype(np.int64)
        flow_start = np.cumsum(per_flow) - per_flow
        header_slots = self.config.header_slots
        start = header_slots + np.cumsum(count) - count - flow_start[rows]
        f = self.vocab
        header = [(np.full(n, V.CLS), Slot.CLS),
                  (f["proto"].base + V.proto_bucket(proto), Slot.PROTO),
                  (f["service"].base + V.service_bucket(flows.resp_port, proto), Slot.SERVICE),
                  *flow_totals(f, flows),
                  *(session_context(f, flows) if self.config.context else [])]
        parts = [_Part(np.arange(n), np.full(n, k), ids, slot, -1, -1)
                 for k, (ids, slot) in enumerate(header)]
        parts += self._packet_parts(packets, rows, pk, start)
        parts += self._payload_parts(packets, rows, pk, start)
        return _Tokens.join(parts, header_slots + per_flow)

    def _packet_parts(self, packets: _PacketView, rows, pk, start) -> list[_Part]:
        f = self.vocab
        fixed = [(np.full(len(rows), V.PKT), Slot.PACKET),
                 (f["direction"].base + packets.column("pkt_direction"), Slot.DIRECTION),
                 (f["iat"].base + packets.iat_bucket(), Slot.IAT),
                 (f["length"].base + V.length_bucket(packets.column("pkt_ip_payload_len")),
                  Slot.LENGTH),
                 (f["ttl"].base + V.ttl_bucket(packets.column("pkt_ttl")), Slot.TTL)]
        parts = [_Part(rows, start + k, ids, slot, pk, -1) for k, (ids, slot) in enumerate(fixed)]
        for k, (ids, slots) in enumerate(packets.protocol_fields(f)):
            has = packets.n_fields > k
            parts.append(_Part(rows[has], start[has] + PACKET_HEADER_SLOTS + k, ids[has],
                               slots[has], pk[has], -1))
        return parts

    def _payload_parts(self, packets: _PacketView, rows, pk, start) -> list[_Part]:
        shown = packets.shown
        owner = np.repeat(np.arange(len(rows)), shown)
        offset = np.arange(len(owner)) - np.repeat(np.cumsum(shown) - shown, shown)
        first_byte = start + PACKET_HEADER_SLOTS + packets.n_fields
        # the byte each token shows: past the head of a request, its query's
        source = offset + np.where(offset >= packets.head, packets.skip[owner], 0)
        data = packets.flows.payload[rows[owner], pk[owner], source].astype(np.int64)
        cut = packets.truncated.astype(bool)
        return [
            _Part(rows[owner], first_byte[owner] + offset, self.vocab["byte"].base + data,
                  Slot.PAYLOAD, pk[owner], source),
            _Part(rows[cut], first_byte[cut] + shown[cut], V.TRUNC, Slot.TRUNCATED, pk[cut], -1),
        ]

    # -- persistence ---------------------------------------------------------

    def save_pretrained(self, directory: str | Path) -> Path:
        """Write the tokenizer next to a model: settings, vocabulary, format version."""
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        document = {"format_version": V.FORMAT_VERSION, **asdict(self.config),
                    "vocab_size": self.vocab_size, "tokens": self.vocab.tokens}
        (path / CONFIG_FILE).write_text(json.dumps(document, indent=1), encoding="utf-8")
        return path

    @classmethod
    def from_pretrained(cls, directory: str | Path) -> TrafficTokenizer:
        """Load a saved tokenizer; refuse one this code would tokenize differently."""
        path = Path(directory) / CONFIG_FILE
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise TokenizerError(f"{path}: no tokenizer here") from None
        except (OSError, ValueError) as err:
            raise TokenizerError(f"{path}: unreadable tokenizer file: {err}") from None
        version = document.get("format_version")
        if version != V.FORMAT_VERSION:
            raise TokenizerError(f"{path}: tokenizer format {version!r}, but this TrafficLM reads "
                                 f"format {V.FORMAT_VERSION}; retrain or use a matching version")
        try:
            # tokenizers saved before session context existed have none
            # tokenizers saved before the query window existed show the first bytes only
            config = TokenizerConfig(**{k: document[k] for k in
                                        ("packets", "payload_bytes", "max_length")},
                                     context=bool(document.get("context", False)),
                                     query_window=int(document.get("query_window", 0)))
        except (KeyError, TypeError) as err:
            raise TokenizerError(f"{path}: missing or bad tokenizer setting {err}") from None
        tokenizer = cls(config)
        if document.get("tokens") != tokenizer.vocab.tokens:
            raise TokenizerError(f"{path}: vocabulary differs from this TrafficLM's format "
                                 f"{V.FORMAT_VERSION} vocabulary")
        return tokenizer

"""The token layout spelled out one packet at a time, in plain Python.

This is the readable specification of what ``TrafficTokenizer.encode``
computes with numpy: the tests check that both give identical ids, and
``bench/tokenizer_speed.py`` measures the vectorised encoder against it.
"""

from __future__ import annotations

from trafficlm.flows import FlowBatch
from trafficlm.tokenizer import vocab as V
from trafficlm.tokenizer.encoder import ICMP, ICMPV6, TCP, UDP, TrafficTokenizer


def encode_flow(tokenizer: TrafficTokenizer, flows: FlowBatch, row: int) -> list[int]:
    """Token ids of flow ``row`` (no padding), exactly as the vectorised encoder makes them."""
    cfg, f = tokenizer.config, tokenizer.vocab
    proto = int(flows.proto[row])
    ids = [V.CLS, f["proto"].base + int(V.proto_bucket(flows.proto[row : row + 1])[0]),
           f["service"].base + V.one_service_bucket(int(flows.resp_port[row]), proto)]
    duration_us = (int(flows.last_ns[row]) - int(flows.start_ns[row])) // 1000
    for name, value in (("fwd_packets", flows.packets_fwd[row]),
                        ("bwd_packets", flows.packets_bwd[row]),
                        ("fwd_bytes", flows.bytes_fwd[row]), ("bwd_bytes", flows.bytes_bwd[row]),
                        ("duration", duration_us)):
        ids.append(f[name].base + V.one_log2_bucket(int(value), f[name].size))
    if cfg.context:
        for name, _ in V.CONTEXT_FIELDS:
            ids.append(f[name].base + V.one_log2_bucket(int(getattr(flows, name)[row]),
                                                        V.CONTEXT_BUCKETS))
        ids.append(f["ctx_regularity"].base + int(flows.ctx_regularity[row]))
    previous_ts = None
    for p in range(min(int(flows.n_stored[row]), cfg.packets)):
        ts = int(flows.pkt_ts_ns[row, p])
        iat = 0 if previous_ts is None else 1 + V.one_log2_bucket((ts - previous_ts) // 1000,
                                                                  V.IAT_BUCKETS)
        previous_ts = ts
        ids += [V.PKT, f["direction"].base + int(flows.pkt_direction[row, p]), f["iat"].base + iat,
                f["length"].base + V.one_length_bucket(int(flows.pkt_ip_payload_len[row, p])),
                f["ttl"].base + V.one_ttl_bucket(int(flows.pkt_ttl[row, p]))]
        ids += _protocol_fields(f, flows, row, p, proto)
        data = bytes(flows.payload[row, p, :int(flows.pkt_payload_cap[row, p])])
        if int(flows.pkt_icmp_type[row, p]) in V.ICMP_ERROR_TYPES.get(proto, ()):
            data = b""
        shown, last = _shown_bytes(data, cfg.payload_bytes, cfg.query_window, proto == TCP)
        ids += [f["byte"].base + b for b in shown]
        if int(flows.pkt_payload_len[row, p]) > last:
            ids.append(V.TRUNC)
    return [*ids[: cfg.max_length - 1], V.SEP]


def _shown_bytes(data: bytes, payload_bytes: int, head: int, tcp: bool) -> tuple[bytes, int]:
    """(the payload bytes a packet shows, the offset after the last one): its first bytes,
    or for an HTTP request whose query starts past ``head``: ``head`` bytes, then the query."""
    line = data[:min((i for i in (data.find(b"\r"), data.find(b"\n")) if i >= 0),
                     default=len(data))]
    query = line.find(b"?")
    if head and tcp and len(data) > head and data[:4] in V.HTTP_METHODS and query > head:
        shown = data[:head] + data[query:query + payload_bytes - head]
        return shown, query + len(shown) - head
    return data[:payload_bytes], min(len(data), payload_bytes)


def _protocol_fields(f: V.Vocabulary, flows: FlowBatch, row: int, p: int, proto: int) -> list[int]:
    if proto == TCP:
        return [f["tcp_flags"].base + (int(flows.pkt_tcp_flags[row, p]) & 0xFF),
                f["tcp_window"].base + V.one_log2_bucket(int(flows.pkt_tcp_window[row, p]),
                                                          V.WINDOW_BUCKETS),
                f["tcp_options"].base + int(flows.pkt_tcp_options[row, p])]
    if proto == UDP:
        return [f["udp_length"].base + V.one_length_bucket(int(flows.pkt_udp_len[row, p]))]
    icmp_type = int(flows.pkt_icmp_type[row, p])
    if proto in (ICMP, ICMPV6) and icmp_type >= 0:
        code = min(int(flows.pkt_icmp_code[row, p]), V.ICMP_CODES)
        return [f["icmp_type"].base + icmp_type, f["icmp_code"].base + code]
    return []


def encode_reference(tokenizer: TrafficTokenizer, flows: FlowBatch) -> list[list[int]]:
    """Every flow's ids, padded to the tokenizer's maximum length."""
    out = []
    for row in range(len(flows)):
        ids = encode_flow(tokenizer, flows, row)
        out.append(ids + [V.PAD] * (tokenizer.config.max_length - len(ids)))
    return out

"""The vocabulary: every token the model can see, in fixed id ranges per field.

Each field owns a contiguous block of ids, so ``id - base`` is the field's
value (or bucket) and the block a token falls in says what it means. The
vocabulary depends on nothing but this file: the same code always produces
the same ids, and ``FORMAT_VERSION`` changes whenever a range changes.

Nothing here can name a host: there are no tokens for addresses, MACs, IP
ids, sequence/acknowledgement numbers, checksums, absolute times or TCP
timestamp values.
"""

from __future__ import annotations

import bisect
import itertools
from dataclasses import dataclass

import numpy as np

from trafficlm.flows.context import REGULARITY_EDGES

FORMAT_VERSION = 2  # 2: whole-flow counts and duration after the service token

# the first four bytes of an HTTP/1 request line, as big-endian words (the query window)
HTTP_METHODS = (b"GET ", b"POST", b"HEAD", b"PUT ", b"DELE", b"OPTI", b"PATC")
HTTP_METHOD_WORDS = tuple(int.from_bytes(method, "big") for method in HTTP_METHODS)
SPECIALS = ("[PAD]", "[CLS]", "[SEP]", "[MASK]", "[UNK]", "[PKT]", "[TRUNC]")
PAD, CLS, SEP, MASK, UNK, PKT, TRUNC = range(len(SPECIALS))

PROTOCOLS = {6: "TCP", 17: "UDP", 1: "ICMP", 58: "ICMPv6", 47: "GRE", 50: "ESP", 132: "SCTP",
             2: "IGMP"}
PROTOCOL_NAMES = (*PROTOCOLS.values(), "other")

# Registered ports (1024-49151) that get their own service token: ports real
# services and common attack tooling use. Other registered ports share one
# token: a token per port would be 48k embeddings (6M parameters at width
# 128) for ports the model never sees in training.
REGISTERED_SERVICES = (
    1080, 1194, 1433, 1434, 1521, 1701, 1723, 1812, 1813, 1883, 1900, 2049, 2082, 2083, 2181,
    2375, 2376, 2379, 3000, 3128, 3268, 3306, 3389, 3478, 3690, 4333, 4444, 4500, 4567, 4786,
    5000, 5001, 5060, 5061, 5222, 5353, 5355, 5432, 5601, 5671, 5672, 5683, 5900, 5901, 5985,
    5986, 6000, 6379, 6443, 6660, 6667, 6697, 7001, 7474, 8000, 8008, 8009, 8080, 8081, 8086,
    8088, 8181, 8333, 8443, 8500, 8883, 8888, 9000, 9001, 9042, 9090, 9092, 9100, 9200, 9300,
    9418, 9999, 10000, 11211, 15672, 19999, 20000, 25565, 27017, 27018, 31337, 44818, 47808,
)
WELL_KNOWN_LIMIT = 1024
EPHEMERAL_START = 49152
SERVICE_NAMES = {20: "ftp-data", 21: "ftp", 22: "ssh", 23: "telnet", 25: "smtp", 53: "dns",
                 67: "dhcp", 68: "dhcp", 69: "tftp", 80: "http", 88: "kerberos", 110: "pop3",
                 123: "ntp", 135: "msrpc", 137: "netbios-ns", 139: "netbios", 143: "imap",
                 161: "snmp", 389: "ldap", 443: "https", 445: "smb", 465: "smtps",
                 502: "modbus", 514: "syslog", 587: "submission", 636: "ldaps", 853: "dns-tls",
                 993: "imaps", 995: "pop3s", 1433: "mssql", 1883: "mqtt", 3306: "mysql",
                 3389: "rdp", 5060: "sip", 5353: "mdns", 5432: "postgres", 5900: "vnc",
                 6379: "redis", 8080: "http-alt", 8443: "https-alt", 20000: "dnp3"}

# IP payload length buckets: fine where control packets live, coarse above the MTU
LENGTH_EDGES = (*range(0, 64, 4), *range(64, 1600, 32), 1600, 2048, 4096, 8192, 16384, 32768,
                65536)
# whole-flow totals, log2 buckets (bucket k: 2^(k-1) <= value < 2^k): what the first
# packets cannot show, such as a brute force's many round trips or a scan's single probe
COUNT_BUCKETS = 25  # packets per direction, up to 2^24
BYTE_BUCKETS = 41  # bytes per direction, up to 2^40
DURATION_BUCKETS = 38  # microseconds, up to 2^37 (38 hours)
FLOW_STAT_FIELDS = ("fwd_packets", "bwd_packets", "fwd_bytes", "bwd_bytes", "duration")
# session context (flows/context.py), log2 buckets of counts; the regularity is its own bucket
CONTEXT_BUCKETS = 14  # up to 2^13: beyond the 4,096 flows a host's history holds
CONTEXT_FIELDS = (("ctx_src_flows", "ctx:srcflows"), ("ctx_pair_flows", "ctx:sameservice"),
                  ("ctx_dst_ports", "ctx:hostports"), ("ctx_port_hosts", "ctx:porthosts"),
                  ("ctx_dst_sources", "ctx:sources"))
REGULARITY_NAMES = ("ctx:gaps:n/a", *(f"ctx:gaps:cv<{edge}" for edge in REGULARITY_EDGES),
                    f"ctx:gaps:cv>={REGULARITY_EDGES[-1]}")
IAT_BUCKETS = 32  # bucket k: 2^(k-1) <= gap in microseconds < 2^k (k = 0: no gap)
WINDOW_BUCKETS = 17  # bucket k: 2^(k-1) <= window < 2^k
TTL_CLASSES = (32, 64, 128, 255)  # the initial TTLs stacks use; the class hides the hop count
FLAG_LETTERS = "FSRPAUEC"  # bit order of the TCP flags byte
OPTION_NAMES = ("MSS", "WS", "SACKOK", "SACK", "TS")
ICMP_CODES = 16  # codes 0-15 have their own token, larger ones share one
# ICMP errors quote the offending packet's IP header, addresses included: their
# payload is never shown (type and code say what happened).
ICMP_ERROR_TYPES = {1: (3, 4, 5, 11, 12), 58: (1, 2, 3, 4)}


@dataclass(frozen=True)
class Field:
    """One block of ids: ``base`` is the first id, ``names`` the token of each value."""

    name: str
    base: int
    names: tuple[str, ...]

    @property
    def size(self) -> int:
        return len(self.names)

    def __contains__(self, token_id: int) -> bool:
        return self.base <= token_id < self.base + self.size


def _context_tokens() -> list[tuple[str, tuple[str, ...]]]:
    """The session-context fields, after every flow field: a tokenizer without context
    keeps the same ids (and reads the models trained before context existed)."""
    return [*((name, _log2_names(short, CONTEXT_BUCKETS)) for name, short in CONTEXT_FIELDS),
            ("ctx_regularity", REGULARITY_NAMES)]


def _field_tokens() -> list[tuple[str, tuple[str, ...]]]:
    service = [f"svc:{p}" for p in range(WELL_KNOWN_LIMIT)] + [
        f"svc:{p}" for p in REGISTERED_SERVICES] + [
        "svc:registered-other", "svc:ephemeral", "svc:none"]
    lengths = [f"{lo}-{hi - 1}" for lo, hi in itertools.pairwise(LENGTH_EDGES)]
    return [
        ("special", SPECIALS),
        ("proto", tuple(f"proto:{p}" for p in PROTOCOL_NAMES)),
        ("service", tuple(service)),
        ("direction", ("dir:fwd", "dir:bwd")),
        ("iat", ("iat:first", "iat:0us", *(f"iat:<2^{k}us" for k in range(1, IAT_BUCKETS)))),
        ("length", tuple(f"len:{r}" for r in lengths)),
        ("ttl", tuple(f"ttl:<={t}" for t in TTL_CLASSES)),
        ("tcp_flags", tuple(f"flags:{flag_text(v)}" for v in range(256))),
        ("tcp_window", ("win:0", *(f"win:<2^{k}" for k in range(1, WINDOW_BUCKETS)))),
        ("tcp_options", tuple(f"opts:{options_text(v)}" for v in range(32))),
        ("udp_length", tuple(f"udplen:{r}" for r in lengths)),
        ("icmp_type", tuple(f"icmp:type{t}" for t in range(256))),
        ("icmp_code", (*(f"icmp:code{c}" for c in range(ICMP_CODES)), "icmp:code>15")),
        ("byte", tuple(f"byte:{b:02x}" for b in range(256))),
        *((name, _log2_names(short, buckets)) for name, short, buckets in (
            ("fwd_packets", "fwdpkts", COUNT_BUCKETS), ("bwd_packets", "bwdpkts", COUNT_BUCKETS),
            ("fwd_bytes", "fwdbytes", BYTE_BUCKETS), ("bwd_bytes", "bwdbytes", BYTE_BUCKETS),
            ("duration", "dur", DURATION_BUCKETS))),
    ]


def _log2_names(prefix: str, buckets: int) -> tuple[str, ...]:
    unit = "us" if prefix == "dur" else ""
    return (f"{prefix}:0", *(f"{prefix}:<2^{k}{unit}" for k in range(1, buckets)))


def flag_text(flags: int) -> str:
    """TCP flags as letters, e.g. 0x12 -> 'SA' (SYN|ACK); '.' for none."""
    return "".join(c for i, c in enumerate(FLAG_LETTERS) if flags >> i & 1) or "."


def options_text(bits: int) -> str:
    return "|".join(n for i, n in enumerate(OPTION_NAMES) if bits >> i & 1) or "none"


class Vocabulary:
    """All tokens, their ids, and the field each id belongs to; ``context``: with the
    session-context fields."""

    def __init__(self, context: bool = False) -> None:
        self.fields: dict[str, Field] = {}
        self.tokens: list[str] = []
        for name, names in _field_tokens() + (_context_tokens() if context else []):
            self.fields[name] = Field(name, len(self.tokens), names)
            self.tokens.extend(names)
        self._field_of = np.zeros(len(self.tokens), np.int16)
        for index, field in enumerate(self.fields.values()):
            self._field_of[field.base : field.base + field.size] = index
        self._field_list = list(self.fields.values())

    def __len__(self) -> int:
        return len(self.tokens)

    def __getitem__(self, name: str) -> Field:
        return self.fields[name]

    def field_of(self, token_id: int) -> Field:
        return self._field_list[int(self._field_of[token_id])]

    def token(self, token_id: int) -> str:
        return self.tokens[token_id] if 0 <= token_id < len(self.tokens) else SPECIALS[UNK]


# -- value -> bucket, vectorised (the encoder) and per value (the reference encoder) --

_REGISTERED_INDEX = np.full(EPHEMERAL_START, -1, np.int32)
_REGISTERED_INDEX[list(REGISTERED_SERVICES)] = np.arange(len(REGISTERED_SERVICES))
_PROTO_INDEX = np.full(256, len(PROTOCOLS), np.int32)
_PROTO_INDEX[list(PROTOCOLS)] = np.arange(len(PROTOCOLS))
_LENGTH_EDGES = np.asarray(LENGTH_EDGES[1:-1])


def proto_bucket(proto: np.ndarray) -> np.ndarray:
    return _PROTO_INDEX[proto.astype(np.int64)]


def service_bucket(port: np.ndarray, proto: np.ndarray) -> np.ndarray:
    """Own token below 1024 and for listed registered ports; shared tokens otherwise."""
    port = port.astype(np.int64)
    registered = _REGISTERED_INDEX[np.minimum(port, EPHEMERAL_START - 1)]
    bucket = np.where(port < WELL_KNOWN_LIMIT, port,
                      np.where(registered >= 0, WELL_KNOWN_LIMIT + registered,
                               WELL_KNOWN_LIMIT + len(REGISTERED_SERVICES)))
    bucket = np.where(port >= EPHEMERAL_START, WELL_KNOWN_LIMIT + len(REGISTERED_SERVICES) + 1,
                      bucket)
    has_ports = np.isin(proto, (6, 17, 132))
    return np.where(has_ports, bucket, WELL_KNOWN_LIMIT + len(REGISTERED_SERVICES) + 2)


def length_bucket(length: np.ndarray) -> np.ndarray:
    return np.searchsorted(_LENGTH_EDGES, np.clip(length, 0, None), side="right")


def log2_bucket(value: np.ndarray, buckets: int) -> np.ndarray:
    """0 for 0, else 1 + floor(log2(value)), capped at ``buckets - 1``."""
    value = np.clip(value.astype(np.int64), 0, 2**52)  # exact in float64, so frexp is exact
    _, bits = np.frexp(value.astype(np.float64))  # the exponent is the bit length
    return np.minimum(bits.astype(np.int64), buckets - 1)


def ttl_bucket(ttl: np.ndarray) -> np.ndarray:
    return np.searchsorted(np.asarray(TTL_CLASSES[:-1]), ttl.astype(np.int64), side="left")


def is_icmp_error(proto: np.ndarray, icmp_type: np.ndarray) -> np.ndarray:
    return ((proto == 1) & np.isin(icmp_type, ICMP_ERROR_TYPES[1])) | (
        (proto == 58) & np.isin(icmp_type, ICMP_ERROR_TYPES[58]))


def one_service_bucket(port: int, proto: int) -> int:
    """Per-value twin of service_bucket (used by the reference encoder)."""
    if proto not in (6, 17, 132):
        return WELL_KNOWN_LIMIT + len(REGISTERED_SERVICES) + 2
    if port < WELL_KNOWN_LIMIT:
        return port
    if port >= EPHEMERAL_START:
        return WELL_KNOWN_LIMIT + len(REGISTERED_SERVICES) + 1
    if port in REGISTERED_SERVICES:
        return WELL_KNOWN_LIMIT + REGISTERED_SERVICES.index(port)
    return WELL_KNOWN_LIMIT + len(REGISTERED_SERVICES)


def one_length_bucket(length: int) -> int:
    return bisect.bisect_right(LENGTH_EDGES[1:-1], max(length, 0))


def one_log2_bucket(value: int, buckets: int) -> int:
    return min(max(value, 0).bit_length(), buckets - 1)


def one_ttl_bucket(ttl: int) -> int:
    return bisect.bisect_left(TTL_CLASSES[:-1], ttl)

"""Property tests of the capture readers: pcapng cut into random sections with random
option values, and gzip cut anywhere or followed by junk. Whatever the bytes, only the
project's own errors come out, and every packet before the first damaged byte comes back
with its bytes and time."""

from __future__ import annotations

import gzip
import struct
import zlib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trafficlm.capture import CaptureReport, read_records
from trafficlm.errors import CaptureError

from capture_files import Frame, write_pcap

EPOCH_S = 1_700_000_000
VALID_RESOLUTIONS = [3, 6, 9, 0x80 | 20, 0x80 | 30]  # ms, us, ns, 2^-20 s, 2^-30 s
HOSTILE_RESOLUTIONS = [0x7F, 0xFF, 19, 100, 0x80 | 64, 0x80 | 127]
MAX_OFFSET_S = (2**63 - 1) // 10**9


def block(order: str, btype: int, body: bytes) -> bytes:
    body += b"\0" * (-len(body) % 4)
    return struct.pack(order + "II", btype, len(body) + 12) + body + struct.pack(
        order + "I", len(body) + 12)


def ticks(resolution: int, seconds: int) -> int:
    return seconds << (resolution & 0x7F) if resolution & 0x80 else seconds * 10**resolution


def reference_ns(resolution: int, raw: int, offset_s: int) -> int | None:
    """The packet's time in int64 nanoseconds, in exact integers; None when it does not
    fit (then the packet is damage, and nothing after it is owed)."""
    if resolution & 0x80:
        shift = resolution & 0x7F
        whole = (raw >> shift) * 10**9
        time = whole + round((raw & ((1 << shift) - 1)) / 2**shift * 1e9)
    else:
        whole = time = raw * 10 ** (9 - resolution)
    offset = offset_s * 10**9
    return time + offset if whole + max(offset, 0) + 10**9 <= 2**63 - 1 else None


section = st.fixed_dictionaries({
    "order": st.sampled_from("<>"),
    "resolution": st.one_of(st.sampled_from(VALID_RESOLUTIONS),
                            st.sampled_from(HOSTILE_RESOLUTIONS)),
    "offset": st.one_of(st.just(0), st.integers(-1000, 1000),
                        st.integers(-(2**63), 2**63 - 1)),
    # per packet: its payload, and whether its timestamp is absurd (2^63 ticks and more)
    "packets": st.lists(st.tuples(st.binary(min_size=1, max_size=80), st.booleans()),
                        min_size=0, max_size=6),
})


def build(sections: list[dict]) -> tuple[bytes, list[tuple[bytes, int]]]:
    """(the file, the packets a reader must return: those before the first damage)."""
    out, expected, damaged = [], [], False
    for sec in sections:
        order, resolution, offset = sec["order"], sec["resolution"], sec["offset"]
        out.append(block(order, 0x0A0D0D0A, struct.pack(order + "IHHq", 0x1A2B3C4D, 1, 0, -1)))
        options = struct.pack(order + "HHB3x", 9, 1, resolution)
        options += struct.pack(order + "HHq", 14, 8, offset) + struct.pack(order + "HH", 0, 0)
        out.append(block(order, 1, struct.pack(order + "HHI", 1, 0, 0) + options))
        damaged |= resolution in HOSTILE_RESOLUTIONS or abs(offset) > MAX_OFFSET_S
        for index, (data, absurd) in enumerate(sec["packets"]):
            raw = ((2**63 + index) if absurd else ticks(resolution, EPOCH_S) + index) % 2**64
            out.append(block(order, 6, struct.pack(order + "IIIII", 0, raw >> 32,
                                                   raw & 0xFFFFFFFF, len(data), len(data))
                             + data))
            time = None if damaged else reference_ns(resolution, raw, offset)
            damaged |= time is None
            if not damaged:
                expected.append((data, time))
    return b"".join(out), expected


def read_back(path, chunk_bytes: int) -> list[tuple[bytes, int]]:
    got = []
    try:
        for batch in read_records(str(path), CaptureReport(str(path)), chunk_bytes):
            for off, size, ts in zip(batch.data_off, batch.caplen, batch.ts_ns, strict=True):
                got.append((batch.buf[off:off + size].tobytes(), int(ts)))
    except CaptureError as err:
        assert str(path) in str(err)
    return got


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(sections=st.lists(section, min_size=1, max_size=6),
       chunk_bytes=st.integers(16, 4096))
def test_random_sections_and_options_return_every_packet_before_the_damage(
        tmp_path, sections, chunk_bytes):
    data, expected = build(sections)
    path = tmp_path / "random.pcapng"
    path.write_bytes(data)
    assert read_back(path, chunk_bytes) == expected


def whole_records(data: bytes) -> list[bytes]:
    at, records = 24, []
    while at + 16 <= len(data):
        size = struct.unpack_from("<I", data, at + 8)[0]
        if at + 16 + size > len(data):
            break
        records.append(data[at + 16: at + 16 + size])
        at += 16 + size
    return records


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payloads=st.lists(st.binary(min_size=1, max_size=300), min_size=1, max_size=60),
       cut=st.floats(0, 1), junk=st.binary(max_size=64), members=st.integers(1, 3))
def test_cut_or_junk_tailed_gzip_returns_every_packet_before_the_damage(
        tmp_path, payloads, cut, junk, members):
    plain = tmp_path / "plain.pcap"
    write_pcap(plain, [Frame(EPOCH_S * 10**9 + i * 1000, p) for i, p in enumerate(payloads)])
    raw = plain.read_bytes()
    step = -(-len(raw) // members)
    packed = b"".join(gzip.compress(raw[i:i + step]) for i in range(0, len(raw), step))
    if junk:
        damaged, inflated = packed + junk, raw
    else:
        damaged = packed[: int(cut * len(packed))]
        inflator, inflated = zlib.decompressobj(31), b""
        rest = damaged
        while rest:  # what gunzip could inflate of the prefix, member after member
            try:
                inflated += inflator.decompress(rest)
            except zlib.error:
                break
            if not inflator.eof:
                break
            rest, inflator = inflator.unused_data, zlib.decompressobj(31)
    path = tmp_path / "damaged.pcap.gz"
    path.write_bytes(damaged)
    got = [data for data, _ in read_back(path, 4096)]
    assert got == whole_records(inflated)

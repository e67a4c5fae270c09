"""Every container variant of the same real packets yields the same flows."""

from __future__ import annotations

import pytest
from scapy.utils import RawPcapReader

from trafficlm.capture import CaptureReport, read_packets
from trafficlm.flows.frame import flows_frame
from trafficlm.pipeline import capture_flows

from capture_files import Frame, pcapng_section, write_pcap, write_pcapng
from conftest import CORPUS

SOURCE = CORPUS / "chrissanders-packets" / "ppa1e__torrential-slowness.pcap"


@pytest.fixture(scope="module")
def frames() -> list[Frame]:
    if not SOURCE.exists():
        pytest.skip(f"corpus capture missing: {SOURCE}")
    out = []
    for data, meta in RawPcapReader(str(SOURCE)):
        ts_ns = (meta.sec * 1_000_000 + meta.usec) * 1000
        out.append(Frame(ts_ns=ts_ns, data=data, wirelen=meta.wirelen))
    return out


def flow_rows(path) -> list[dict]:
    report = CaptureReport(str(path))
    frames = [flows_frame(f) for f in capture_flows(str(path), report)]
    assert not report.problems(), report.problems()
    rows = [row for frame in frames for row in frame.iter_rows(named=True)]
    return sorted(rows, key=lambda r: r["flow_id"])


def timestamps(path) -> list[int]:
    report = CaptureReport(str(path))
    return [t for batch in read_packets(str(path), report) for t in batch.ts_ns.tolist()]


@pytest.fixture(scope="module")
def reference(frames, tmp_path_factory):
    path = write_pcap(tmp_path_factory.mktemp("ref") / "ref.pcap", frames)
    return flow_rows(path), timestamps(path)


@pytest.mark.parametrize("variant", [
    {"nanoseconds": False, "big_endian": False},
    {"nanoseconds": False, "big_endian": True},
    {"nanoseconds": True, "big_endian": False},
    {"nanoseconds": True, "big_endian": True},
    {"nanoseconds": True, "big_endian": True, "compress": True},
])
def test_pcap_variants_agree(frames, reference, tmp_path, variant):
    path = write_pcap(tmp_path / "v.pcap", frames, **variant)
    assert flow_rows(path) == reference[0]
    assert timestamps(path) == reference[1]


@pytest.mark.parametrize("variant", [
    {"big_endian": False},
    {"big_endian": True},
    {"tsresol": 9},
    {"tsresol": 0x80 | 30},  # binary fractions: 2^-30 s ticks
    {"block": "opb"},
])
def test_pcapng_variants_agree(frames, reference, tmp_path, variant):
    path = write_pcapng(tmp_path / "v.pcapng", [pcapng_section(frames, **variant)])
    binary_ticks = variant.get("tsresol", 0) & 0x80
    stamps = timestamps(path)
    tolerance = 1 if binary_ticks else 0  # 2^-30 s ticks cannot hold every microsecond
    assert all(abs(a - b) <= tolerance for a, b in zip(stamps, reference[1], strict=True))
    if binary_ticks:  # times (and so flow ids, which hash the start) may move by 1 ns
        timeless = {"flow_id", "start", "end", "duration_s"}
        strip = lambda rows: sorted(  # noqa: E731
            [{k: v for k, v in r.items() if k not in timeless} for r in rows], key=str)
        assert strip(flow_rows(path)) == strip(reference[0])
    else:
        assert flow_rows(path) == reference[0]


def test_pcapng_simple_packet_blocks_keep_every_packet(frames, tmp_path):
    path = write_pcapng(tmp_path / "spb.pcapng", [pcapng_section(frames, block="spb")])
    rows = flow_rows(path)
    assert sum(r["packets_fwd"] + r["packets_bwd"] for r in rows) == len(frames)


def test_pcapng_several_sections_and_byte_orders(frames, reference, tmp_path):
    half = len(frames) // 2
    sections = [pcapng_section(frames[:half], big_endian=True),
                pcapng_section(frames[half:], tsresol=9)]
    path = write_pcapng(tmp_path / "multi.pcapng", sections, compress=True)
    assert flow_rows(path) == reference[0]
    assert timestamps(path) == reference[1]


def test_pcapng_interfaces_with_different_link_types(frames, tmp_path):
    """Ethernet frames on one interface, the same packets as raw IP on another."""
    raw = [Frame(f.ts_ns + 10**12, f.data[14:], linktype=101) for f in frames
           if f.data[12:14] in (b"\x08\x00", b"\x86\xdd")]
    path = write_pcapng(tmp_path / "two.pcapng", [pcapng_section(frames + raw)])
    report = CaptureReport(str(path))
    packets = sum(len(b) for b in read_packets(str(path), report))
    assert packets == len(frames) + len(raw)
    assert report.ip_packets == 2 * len(raw)

"""Bad input is an answer, not a crash: truncation, corruption, non-captures."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trafficlm.capture import CaptureReport, read_packets
from trafficlm.errors import CaptureError
from trafficlm.flows.frame import flows_frame
from trafficlm.pipeline import capture_flows

from conftest import CORPUS

SAMPLES = [
    "chrissanders-packets/ppa1e__torrential-slowness.pcap",  # ethernet pcap
    "chrissanders-packets/dns_isp_hijack.pcapng",  # ethernet pcapng
    "suricata-verify/http2-range__http2-range.pcap",  # BSD loopback
    "suricata-verify/ipv6-evasion__ipv6-dos-with-ext-headers-5__denial6-5.pcap",  # v6 ext chains
]


def sample_bytes() -> list[bytes]:
    data = []
    for name in SAMPLES:
        path = CORPUS / name
        if path.exists():
            raw = path.read_bytes()
            data.append(raw[:60_000])  # a prefix keeps each example fast
    return data


SAMPLE_DATA = sample_bytes()


def read_all(path: Path) -> CaptureReport:
    """Run the whole offline path; only CaptureError may come out of the reader."""
    report = CaptureReport(str(path))
    for flows in capture_flows(str(path), report):
        flows_frame(flows)
    return report


@pytest.mark.skipif(not SAMPLE_DATA, reason="the shared corpus is missing")
@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_truncation_and_byte_flips_never_raise_anything_else(tmp_path, data):
    original = data.draw(st.sampled_from(SAMPLE_DATA))
    mutated = bytearray(original[: data.draw(st.integers(0, len(original)))])
    for _ in range(data.draw(st.integers(0, 12))):
        if mutated:
            mutated[data.draw(st.integers(0, len(mutated) - 1))] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        mutated = bytearray(gzip.compress(bytes(mutated)))
        if data.draw(st.booleans()):
            mutated = mutated[: data.draw(st.integers(0, len(mutated)))]
    path = tmp_path / "mutated.pcap"
    path.write_bytes(bytes(mutated))
    report = read_all(path)
    assert report.error is None or isinstance(report.error, CaptureError)
    try:
        for _ in read_packets(str(path), CaptureReport(str(path))):
            pass
    except CaptureError as err:
        assert str(path) in str(err)


def test_truncated_capture_keeps_what_came_before_and_names_the_offset(tmp_path, manifest):
    original = (CORPUS / SAMPLES[0]).read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(original[: len(original) // 2])
    whole, half = read_all(CORPUS / SAMPLES[0]), read_all(cut)
    assert 0 < half.packets < whole.packets
    assert half.error is None
    assert len(half.warnings) == 1
    assert str(cut) in half.warnings[0] and f"byte {half.bytes_read}" in half.warnings[0]


def test_corrupt_record_length_stops_the_file_with_its_offset(tmp_path, manifest):
    original = bytearray((CORPUS / SAMPLES[0]).read_bytes())
    report = CaptureReport("x")
    offsets = [int(o) for b in read_packets(str(CORPUS / SAMPLES[0]), report)
               for o in b.file_offset]
    bad = offsets[10]
    original[bad + 8 : bad + 12] = (10**7).to_bytes(4, "little")
    path = tmp_path / "corrupt.pcap"
    path.write_bytes(bytes(original))
    report = read_all(path)
    assert report.packets == 10
    assert isinstance(report.error, CaptureError)
    assert report.error.offset == bad
    assert report.flow_stats.flows_emitted > 0  # the flows before the damage are kept


@pytest.mark.parametrize(("content", "message"), [
    (b"", "empty file"),
    (b"GET / HTTP/1.1\r\n\r\n", "not a pcap or pcapng"),
])
def test_non_captures_get_one_clear_error(tmp_path, content, message):
    path = tmp_path / "thing.pcap"
    path.write_bytes(content)
    report = read_all(path)
    assert message in str(report.error)
    assert str(path) in str(report.error)


def test_unreadable_path_is_named(tmp_path):
    report = read_all(tmp_path / "missing.pcap")
    assert "cannot open" in str(report.error) and "missing.pcap" in str(report.error)

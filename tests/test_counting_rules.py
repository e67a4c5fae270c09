"""The Zeek-style counting rules, the yardstick of the corpus tables: they fire at their
thresholds, within their windows, on real attack captures and not on real benign ones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from trafficlm.flows.frame import flows_frame
from trafficlm.training.corpus_detection import read_capture
from trafficlm.training.counting_rules import rule_verdicts

from conftest import CORPUS

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def probes(ports: list[int], gap_s: float, dst: str = "10.0.0.2") -> pl.DataFrame:
    """Unanswered TCP probes from one source, one every ``gap_s`` seconds."""
    n = len(ports)
    return pl.DataFrame({
        "start": [T0 + timedelta(seconds=i * gap_s) for i in range(n)],
        "src_ip": ["10.0.0.1"] * n, "dst_ip": [dst] * n, "dst_port": ports,
        "proto": ["TCP"] * n, "packets_fwd": [1] * n, "packets_bwd": [0] * n,
        "payload_bytes_fwd": [0] * n, "rst_count": [0] * n, "syn_count": [1] * n,
        "duration_s": [0.0] * n})


def test_a_port_scan_fires_at_fifteen_ports_within_five_minutes():
    assert rule_verdicts(probes(list(range(1, 15)), 1.0)) == set()
    assert rule_verdicts(probes(list(range(1, 16)), 1.0)) == {"PortScan"}
    # the same fifteen ports spread over an hour never reach fifteen in one window
    assert rule_verdicts(probes(list(range(1, 16)), 240.0)) == set()


def test_guessing_counts_connections_to_the_service_per_pair():
    assert rule_verdicts(probes([22] * 29, 10.0)) == set()
    assert rule_verdicts(probes([22] * 30, 10.0)) == {"SSH-Patator"}
    assert rule_verdicts(probes([21] * 20, 10.0)) == {"FTP-Patator"}


def verdicts_of(path: str) -> set[str]:
    flows = read_capture(str(CORPUS / path))
    return rule_verdicts(flows_frame(flows)) if flows is not None else set()


@pytest.mark.parametrize("path, verdict", [
    ("zeek-traces/ftp__bruteforce.pcap", "FTP-Patator"),
    ("chrissanders-packets/ppa1e__portscan.pcap", "PortScan"),
])
def test_real_attack_captures_fire_their_rule(path, verdict):
    assert verdict in verdicts_of(path)


def test_real_benign_captures_fire_nothing(manifest):
    benign = [r["path"] for r in manifest if r["label"] == "benign"
              and 50 <= int(r["packets"]) <= 20_000][:15]
    assert len(benign) == 15
    assert {path: verdicts_of(path) for path in benign} == {path: set() for path in benign}

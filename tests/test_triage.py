"""`trafficlm triage` with the bundled model on the bundled testbed capture (seed 0, unseen)."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from trafficlm.cli import main

from capture_files import write_pcap
from conftest import REPO

MIXED = str(REPO / "pcaps" / "testbed-mixed.pcap")
ATTACKER, CLIENT = "10.203.0.66", "10.203.0.20"
EVE_FIELDS = {"timestamp", "flow_id", "event_type", "src_ip", "src_port", "dest_ip",
              "dest_port", "proto", "alert", "flow", "trafficlm"}


@pytest.fixture(scope="module")
def eve_lines(tmp_path_factory) -> list[dict]:
    out = tmp_path_factory.mktemp("eve") / "alerts.json"
    assert main(["triage", MIXED, "--format", "eve", "--out", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    if shutil.which("jq"):
        assert subprocess.run(["jq", "-c", ".", str(out)], capture_output=True).returncode == 0
    return [json.loads(line) for line in text.splitlines()]


def test_every_attack_of_the_capture_is_a_session_of_its_class(eve_lines):
    from_attacker = {e["alert"]["signature"] for e in eve_lines if e["src_ip"] == ATTACKER}
    for label in ("PortScan", "DoS Slowloris", "Web Attack \u2013 Sql Injection", "DNS Tunnel",
                  "Web Attack \u2013 XSS"):
        assert f"TrafficLM {label}" in from_attacker
    scan = next(e for e in eve_lines if e["alert"]["signature"] == "TrafficLM PortScan")
    assert scan["trafficlm"]["flows"] >= 900 and scan["trafficlm"]["dest_ports"] >= 900


def test_benign_client_raises_little(eve_lines):
    benign_flows = sum(e["trafficlm"]["flows"] for e in eve_lines if e["src_ip"] == CLIENT)
    assert benign_flows <= 9  # of 180 benign flows: at most 5%


def test_eve_lines_carry_suricata_fields(eve_lines):
    for event in eve_lines:
        assert set(event) >= EVE_FIELDS
        assert event["event_type"] == "alert"
        assert {"action", "gid", "signature_id", "rev", "signature", "category",
                "severity"} <= set(event["alert"])
        assert 1 <= event["alert"]["severity"] <= 3
        assert event["timestamp"].endswith("+0000")
        assert event["trafficlm"]["explanation"]


def test_table_ranks_sessions(capsys):
    assert main(["triage", MIXED]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[0] == "1" and "sev 1" in lines[0]


def test_fail_on_alert_and_an_empty_capture(tmp_path, capsys):
    assert main(["triage", MIXED, "--fail-on-alert", "--format", "jsonl"]) == 4
    empty = write_pcap(tmp_path / "empty.pcap", [])
    assert main(["triage", str(empty)]) == 0
    assert "0 flows, nothing to triage" in capsys.readouterr().err


def test_bad_model_or_output_fail_before_work(tmp_path, capsys):
    assert main(["triage", MIXED, "--model", str(tmp_path)]) == 1
    assert "missing config.json" in capsys.readouterr().err
    assert main(["triage", MIXED, "--out", str(tmp_path / "no" / "x.json")]) == 1
    assert "cannot write" in capsys.readouterr().err

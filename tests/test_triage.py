"""`trafficlm triage` with the bundled model on the bundled testbed capture (seed 0, unseen)."""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
from datetime import UTC, datetime

import numpy as np
import pytest

from trafficlm.capture import CaptureReport
from trafficlm.cli import main
from trafficlm.flows import FlowBatch
from trafficlm.model import DEFAULT_MODEL_DIR, TrafficModel
from trafficlm.pipeline import capture_flows
from trafficlm.sessions import explanation

from capture_files import write_pcap
from conftest import REPO, corpus_path
from eve_files import alerts, eve_events, final_stats

MIXED = str(REPO / "pcaps" / "testbed-mixed.pcap")
ATTACKER, CLIENT = "10.203.0.66", "10.203.0.20"
PATATOR_HELD_BACK = ("--min-brute-force-flows", "100000")  # the capture's guessing: ~20 flows
EVE_FIELDS = {"timestamp", "flow_id", "event_type", "src_ip", "src_port", "dest_ip",
              "dest_port", "proto", "alert", "flow", "trafficlm"}


@pytest.fixture(scope="module")
def eve_file(tmp_path_factory):
    out = tmp_path_factory.mktemp("eve") / "alerts.json"
    assert main(["triage", MIXED, "--format", "eve", "--out", str(out)]) == 0
    if shutil.which("jq"):
        assert subprocess.run(["jq", "-c", ".", str(out)], capture_output=True).returncode == 0
    return out


@pytest.fixture(scope="module")
def eve_lines(eve_file) -> list[dict]:
    return alerts(eve_file)


def test_every_attack_of_the_capture_is_a_session_of_its_class(eve_lines):
    from_attacker = {e["alert"]["signature"] for e in eve_lines if e["src_ip"] == ATTACKER}
    for label in ("PortScan", "DoS Slowloris", "Web Attack \u2013 Sql Injection", "DNS Tunnel",
                  "Web Attack \u2013 XSS", "SSH-Patator"):
        assert f"TrafficLM {label}" in from_attacker
    scan = next(e for e in eve_lines if e["alert"]["signature"] == "TrafficLM PortScan")
    assert scan["trafficlm"]["flows"] >= 900 and scan["trafficlm"]["dest_ports"] >= 900


def test_a_scan_names_its_port_range_not_an_arbitrary_port(eve_lines):
    scan = next(e for e in eve_lines if e["alert"]["signature"] == "TrafficLM PortScan")
    ports = re.search(r"(\d+) destination port\(s\) \((\d+)-(\d+)\)",
                      scan["trafficlm"]["explanation"])
    assert ports, scan["trafficlm"]["explanation"]
    assert int(ports[2]) <= 25 and int(ports[3]) >= 990  # nmap -p 1-1000
    assert scan["dest_port"] == int(ports[2])  # every port once: the lowest stands for them


def test_benign_client_raises_no_alert(eve_lines):
    assert not [e for e in eve_lines if e["src_ip"] == CLIENT]


def test_held_back_sessions_are_counted(capsys):
    """A floor above the SSH guessing session's size holds it back: counted, named, and
    gone from the alerts."""
    assert main(["triage", MIXED, "--format", "csv", *PATATOR_HELD_BACK]) == 0
    out, err = capsys.readouterr()
    held = re.findall(r"(\d+) session\(s\) of \d+ flow\(s\) held back: (.+)$", err, re.M)
    assert held and all(int(count) > 0 for count, _ in held)
    assert any("too few flows" in why and "SSH-Patator" in why for _, why in held), err
    assert "SSH-Patator" not in out


def test_eve_ends_with_what_the_run_counted(eve_file, tmp_path):
    """The stats event after the alerts counts the sessions alerted, by class, and those
    held back, by rule, under the sensor's names; a floor moves sessions between them."""
    events = eve_events(eve_file)
    assert [e["event_type"] for e in events] == ["alert"] * (len(events) - 1) + ["stats"]
    stats = events[-1]["stats"]
    signatures = [e["alert"]["signature"].removeprefix("TrafficLM ") for e in events[:-1]]
    assert stats["alerts"] == {v: signatures.count(v) for v in set(signatures)}
    assert stats["flows_scored"] > sum(e["trafficlm"]["flows"] for e in events[:-1])
    strict = tmp_path / "strict.json"
    assert main(["triage", MIXED, "--format", "eve", "--out", str(strict),
                 *PATATOR_HELD_BACK]) == 0
    held = final_stats(strict)
    assert "SSH-Patator" not in held["alerts"]
    assert held["sessions_held_back"].get("too_few_flows", 0) >= \
        stats["sessions_held_back"].get("too_few_flows", 0) + stats["alerts"]["SSH-Patator"]


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


def by_signature(eve_lines, label: str) -> dict:
    return next(e for e in eve_lines if e["alert"]["signature"] == f"TrafficLM {label}")


def test_evidence_names_packets_and_fields_of_the_flow(eve_lines):
    for event in eve_lines:
        if event["alert"]["signature"].startswith("TrafficLM Unknown"):
            continue
        evidence = event["trafficlm"]["evidence"]
        assert evidence, event["alert"]["signature"]
        for piece in evidence:
            packet = re.match(r"packet (\d+) \((fwd|bwd)\)", piece)
            assert packet is None or 1 <= int(packet.group(1)) <= 8, piece
    web = [piece for label in ("XSS", "Sql Injection") for piece in
           by_signature(eve_lines, f"Web Attack \u2013 {label}")["trafficlm"]["evidence"]]
    assert any("(fwd) payload bytes" in piece for piece in web)  # the requests carry them


@pytest.mark.skipif(not shutil.which("tshark"), reason="deep fields need tshark")
def test_tshark_fields_show_the_attack_requests(eve_lines):
    sqli = by_signature(eve_lines, "Web Attack \u2013 Sql Injection")["trafficlm"]
    assert "URI /search?q=" in sqli["protocol_fields"]
    tunnel = by_signature(eve_lines, "DNS Tunnel")["trafficlm"]
    assert "DNS query" in tunnel["protocol_fields"] and ".t.testbed.lan" in tunnel[
        "protocol_fields"]


@pytest.mark.skipif(not shutil.which("tshark"), reason="deep fields need tshark")
def test_a_capture_cut_mid_packet_keeps_its_report_and_protocol_fields(tmp_path, capsys):
    whole = (REPO / "pcaps" / "testbed-mixed.pcap").read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(whole[: len(whole) * 3 // 4 + 5])  # tshark exits 2 on such a file
    assert main(["triage", str(cut), "--format", "jsonl"]) == 3
    out, err = capsys.readouterr()
    sessions = [json.loads(line) for line in out.splitlines()]
    assert sessions and any(s["protocol_fields"] for s in sessions)
    assert f"{cut}: tshark stopped early" in err and "cut short" in err


def test_workers_without_ray_is_a_usage_error(capsys):
    assert main(["triage", MIXED, "--workers", "2"]) == 2
    assert "--workers needs --ray" in capsys.readouterr().err


def test_alerted_flows_beyond_the_cap_are_counted_not_kept(capsys):
    assert main(["triage", MIXED, "--format", "jsonl", "--max-alerted-flows", "100"]) == 0
    out, err = capsys.readouterr()
    alerted = int(re.search(r"(\d+) alerted flow\(s\) beyond --max-alerted-flows 100 ", err)[1])
    assert alerted > 1000  # the capture has ~1,400 alerted flows
    assert sum(json.loads(line)["flows"] for line in out.splitlines()) <= 100


def test_extract_html_and_csv_from_one_run(tmp_path, capsys):
    extract, html, table = tmp_path / "sessions", tmp_path / "r.html", tmp_path / "s.csv"
    assert main(["triage", MIXED, "--format", "csv", "--out", str(table), "--html", str(html),
                 "--extract", str(extract), *PATATOR_HELD_BACK]) == 0
    sessions = list(csv.DictReader(table.open(encoding="utf-8")))
    files = sorted(extract.glob("session-*.pcap"))
    assert len(files) == len(sessions) >= 5  # six attacks, the SSH guessing held back
    for row in sessions:
        path = next(f for f in files if f.name.startswith(f"session-{int(row['session_id']):04d}"))
        read = [FlowBatch.concat(list(capture_flows(str(path), CaptureReport(str(path)))))]
        assert sum(int(b.packets_fwd.sum() + b.packets_bwd.sum()) for b in read) == int(
            row["packets"]), row["verdict"]
    page = html.read_text(encoding="utf-8")
    assert "<svg" in page and all(row["verdict"] in page for row in sessions)
    assert "Held back" in page and re.search(r"fewer than the 100,?000 a SSH-Patator needs", page)
    assert "<script" not in page.lower()  # XSS payloads in explanations stay text


def test_threshold_trades_alerts(capsys):
    counts = {}
    for threshold in ("0.2", "0.99999"):
        assert main(["triage", MIXED, "--threshold", threshold, "--format", "jsonl"]) == 0
        counts[threshold] = len(capsys.readouterr().out.splitlines())
    assert counts["0.2"] >= counts["0.99999"] >= 1
    assert main(["triage", MIXED, "--fpr", "0.01", "--format", "jsonl"]) == 0
    assert capsys.readouterr().out.strip()


def test_int8_keeps_the_verdicts():
    flows = FlowBatch.concat(list(capture_flows(MIXED, CaptureReport(MIXED))))
    model = TrafficModel(DEFAULT_MODEL_DIR)
    ids = model.tokenizer.encode(flows).ids
    fp32, _ = model.predict(ids)
    model.quantize()
    int8, _ = model.predict(ids)
    # every alert decision stays; a class may change only where the fp32 model was torn
    # between two (the world model's ServiceScan / OS Fingerprinting probes, within 0.002)
    benign = model.labels.index("BENIGN")
    assert ((fp32.argmax(1) == benign) == (int8.argmax(1) == benign)).all()
    top_two = np.sort(fp32, axis=1)[:, -2:]
    decided = top_two[:, 1] - top_two[:, 0] >= 0.05
    assert (fp32.argmax(1) == int8.argmax(1))[decided].all()
    assert (fp32.argmax(1) == int8.argmax(1)).mean() >= 0.98
    assert np.abs(fp32 - int8).mean() < 0.01


@pytest.mark.parametrize(("top_port_flows", "ports"), [(60, "mostly 22"), (2, "20-1000")])
def test_mostly_means_most_flows(top_port_flows, ports):
    seen = datetime(2026, 1, 1, tzinfo=UTC)
    row = {"flows": 100, "src_ip": "10.0.0.1", "dst_ip": "10.0.0.2", "dst_ports": 41,
           "top_dst_port": 22, "top_dst_port_flows": top_port_flows, "lowest_dst_port": 20,
           "highest_dst_port": 1000, "first_seen": seen, "last_seen": seen,
           "share_reset": 0.0, "share_unlike_training": 0.0, "mean_confidence": 0.9}
    assert f"41 destination port(s) ({ports})" in explanation(row)


def test_a_capture_with_flows_but_no_alert_reports_none(capsys):
    """Once a crash: with tshark installed, a report with no session looked up the protocol
    fields of a flow table that has no columns."""
    quiet = corpus_path({"path": "suricata-verify/dns__dns-udp-eve-log-answer-only__"
                                 "dns-udp-google.com-a-aaaa-mx.pcap"})
    assert main(["triage", quiet]) == 0
    captured = capsys.readouterr()
    assert "no suspicious sessions" in captured.out
    assert "0 alerted in 0 session(s)" in captured.err

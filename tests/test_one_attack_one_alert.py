"""One attack is one alert: a spoofed flood is keyed by its victim, a sweep by its source,
a report holds a bounded number of alerts, and the sensor's session stage neither dies on
a first report that holds back everything nor drops a large report on a healthy disk."""

from __future__ import annotations

import json
import subprocess
import sys

import polars as pl
import pytest

from trafficlm.capture import CaptureReport
from trafficlm.detect import scored_frame
from trafficlm.flows import FlowBatch
from trafficlm.model import DEFAULT_MODEL_DIR, TrafficModel
from trafficlm.pipeline import capture_flows
from trafficlm.sensor.evefile import EveFile
from trafficlm.sensor.live_sessions import LiveSessions
from trafficlm.sensor.metrics import Metrics
from trafficlm.session_rules import REPORT_CAP
from trafficlm.sessions import MAX_SESSIONS, build_sessions

from crafted_floods import host_sweep, spoofed_syn_flood
from eve_files import events_of
from scored_rows import scored_flows

NS = 1_000_000_000


@pytest.fixture(scope="module")
def model() -> TrafficModel:
    return TrafficModel(DEFAULT_MODEL_DIR)


def eve_alerts(capture) -> list[dict]:
    proc = subprocess.run([sys.executable, "-m", "trafficlm.cli", "triage", "--format", "eve",
                           str(capture)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return [e for e in events_of(proc.stdout) if e["event_type"] == "alert"]


@pytest.mark.slow
def test_a_spoofed_syn_flood_is_a_handful_of_alerts_naming_its_victim(tmp_path):
    flood = spoofed_syn_flood(tmp_path / "flood.pcap", packets=200_000)
    alerts = eve_alerts(flood)
    assert 1 <= len(alerts) <= 5
    for alert in alerts:
        assert alert["dest_ip"] == "10.203.0.10"
        assert alert["trafficlm"]["sources"] > 10_000  # spoofed from 198.18.0.0/15
        assert "hosts (e.g. 198.1" in alert["trafficlm"]["explanation"]
    assert sum(a["trafficlm"]["flows"] for a in alerts) > 150_000


def test_a_sweep_of_a_subnet_on_one_port_is_one_alert(tmp_path):
    alerts = eve_alerts(host_sweep(tmp_path / "sweep.pcap", hosts=256))
    assert len(alerts) == 1
    sweep = alerts[0]
    assert sweep["src_ip"] == "10.203.0.66" and sweep["dest_port"] == 445
    assert sweep["trafficlm"]["destinations"] == 256 and sweep["trafficlm"]["flows"] == 256


def scored_in_parts(model: TrafficModel, capture: str, parts: int) -> list[pl.DataFrame]:
    batches = list(capture_flows(capture, CaptureReport(capture)))
    flows = FlowBatch.concat(batches)
    frame = scored_frame(model, flows, capture)
    order = frame.sort("end")
    size = -(-order.height // parts)
    return [order.slice(i * size, size) for i in range(parts)]


@pytest.mark.slow
def test_the_sensor_session_stage_reports_a_flood_in_a_handful_of_alerts(model, tmp_path):
    flood = str(spoofed_syn_flood(tmp_path / "flood.pcap", packets=60_000, seconds=30.0))
    live = LiveSessions(gap_s=300, report_s=10, max_flows=100_000)
    reported = []
    for part in scored_in_parts(model, flood, parts=6):  # 5 s of flows a turn
        live.add(part)
        due = live.due(int(part["end"].max().timestamp() * NS))
        if due is not None:
            reported.append(due)
    final = live.take_all()
    reported += [final] if final is not None else []
    alerts = pl.concat(reported, how="diagonal_relaxed")
    assert 1 <= alerts.height <= 5
    assert set(alerts["dst_ip"]) == {"10.203.0.10"} and alerts["sources"].min() > 1000


def test_a_first_report_that_holds_everything_back_does_not_kill_the_sensor():
    """A handful of flows, every session too small to believe (the sensor once died
    computing its memory of reported sessions from an empty report)."""
    part = scored_flows([("10.9.0.66", "10.9.0.10", 0.0, "DoS Syn Flood", False),
                         ("10.9.0.66", "10.9.0.11", 0.5, "PortScan", False),
                         ("10.9.0.67", "10.9.0.10", 1.0, "DNS Tunnel", False)])
    live = LiveSessions(gap_s=300, report_s=2, max_flows=100_000)
    live.add(part)
    report = live.due(int(part["end"].max().timestamp() * NS) + 400 * NS)
    assert report is None or report.is_empty()
    assert sum(live.held_back.values()) > 0 and len(live) == 0


def test_a_report_holds_at_most_max_sessions_alerts_and_counts_the_rest():
    rows = [(f"10.1.{i // 250}.{i % 250}", f"10.2.{i // 250}.{i % 250}", float(i),
             "Web Attack \u2013 XSS", False) for i in range(MAX_SESSIONS + 250)]
    table = build_sessions(scored_flows(rows))
    assert table.sessions.height == MAX_SESSIONS
    capped = table.held_back.filter(pl.col("rule") == REPORT_CAP)
    assert capped.height == 250
    assert f"ranked below the {MAX_SESSIONS:,} alerts" in capped["reason"][0]


def test_one_large_report_is_written_whole_on_a_healthy_disk(tmp_path):
    metrics = Metrics()
    eve = EveFile(str(tmp_path / "eve.json"), metrics, max_unwritten=10)
    eve.write([json.dumps({"n": i}) for i in range(50)])
    eve.close()
    assert len((tmp_path / "eve.json").read_text().splitlines()) == 50
    assert metrics.value("alert_lines_dropped") == 0

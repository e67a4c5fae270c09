"""The sensor's parts on their own: settings, the EVE file on a full disk, live sessions,
the pending-flow queue, and the contrib files that install it."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from collections import Counter
from dataclasses import fields

import numpy as np
import polars as pl
import pytest

from trafficlm.capture import CaptureReport
from trafficlm.cli import build_parser
from trafficlm.detect import scored_frame
from trafficlm.flows import FlowBatch
from trafficlm.model import DEFAULT_MODEL_DIR, TrafficModel
from trafficlm.pipeline import capture_flows
from trafficlm.sensor.config import SensorConfig, load_sensor_config
from trafficlm.sensor.evefile import EveFile
from trafficlm.sensor.live_sessions import LiveSessions
from trafficlm.sensor.metrics import HELP, LABELLED, PREFIX, Metrics
from trafficlm.sensor.stages import PendingFlows
from trafficlm.sessions import build_sessions
from trafficlm.settings import ConfigError

from conftest import REPO

MIXED = str(REPO / "pcaps" / "testbed-mixed.pcap")
NS = 1_000_000_000


@pytest.fixture(scope="module")
def mixed_flows() -> FlowBatch:
    return FlowBatch.concat(list(capture_flows(MIXED, CaptureReport(MIXED))))


@pytest.fixture(scope="module")
def scored(mixed_flows) -> pl.DataFrame:
    return scored_frame(TrafficModel(DEFAULT_MODEL_DIR), mixed_flows, MIXED)


def test_example_config_documents_every_key_and_loads():
    text = (REPO / "configs" / "sensor.toml").read_text()
    for field in fields(SensorConfig):
        assert f"{field.name} =" in text, f"configs/sensor.toml does not document {field.name}"
    config = load_sensor_config(str(REPO / "configs" / "sensor.toml"), {"iface": "eth9"})
    assert config.iface == "eth9" and config.metrics_address() == ("127.0.0.1", 9781)


@pytest.mark.parametrize("text, message", [
    ("iface = 'x'\nqueue = 3\n", "unknown key 'queue'"),
    ("iface = 'x'\nmax_flows = 'many'\n", "max_flows must be int"),
    ("iface = 'x'\nscoring_batch = 0\n", "scoring_batch must be from 1 to 65,536, not 0"),
    ("iface = 'x'\nmetrics = 'localhost'\n", "metrics must be HOST:PORT"),
    ("bpf = 'tcp'\n", "no interface"),
    # values that passed once and broke later: struct.error, NaN timers, a 100 GB ring
    ("iface = 'x'\nblock_timeout_ms = 99999999999\n", "block_timeout_ms must be from 1 to 60,000"),
    ("iface = 'x'\nstats_interval_s = nan\n", "stats_interval_s must be a finite number"),
    ("iface = 'x'\nsession_gap_s = nan\n", "session_gap_s must be a finite number"),
    ("iface = 'x'\nring_mb = 100000\n", "ring_mb must be from 1 to 1,024"),
    ("iface = 'x'\nmin_scan_targets = 0\n",
     "min_scan_targets must be from 1 to 1,000,000, not 0"),
])
def test_bad_settings_are_named(tmp_path, text, message):
    path = tmp_path / "s.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_sensor_config(str(path), {})


def test_metrics_may_listen_on_ipv6():
    config = load_sensor_config(None, {"iface": "x", "metrics": "[::1]:9781"})
    assert config.metrics_address() == ("::1", 9781)


def test_systemd_unit_runs_a_command_line_the_cli_accepts():
    unit = (REPO / "contrib" / "trafficlm-sensor@.service").read_text()
    start = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    argv = shlex.split(start.removeprefix("ExecStart=").replace("%i", "eth1"))
    args = build_parser().parse_args(argv[1:])
    assert (args.command, args.iface, args.user) == ("sensor", "eth1", "trafficlm")
    rotate = (REPO / "contrib" / "logrotate-trafficlm").read_text()
    assert "/var/log/trafficlm/eve.json" in rotate and "HUP" in rotate
    assert "--eve /var/log/trafficlm/eve.json" in start


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small tmpfs needs root")
def test_full_disk_keeps_lines_whole_and_writes_them_when_space_returns(tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(disk)], check=True)
    try:
        filler = disk / "filler"
        filler.write_bytes(b"x" * 40_000)
        metrics = Metrics()
        eve = EveFile(str(disk / "eve.json"), metrics, max_unwritten=500)
        lines = [json.dumps({"n": i, "pad": "y" * 300}) for i in range(200)]  # ~60 KB
        eve.write(lines)
        assert metrics.value("write_errors") > 0 and eve.backlog
        written = [json.loads(x) for x in (disk / "eve.json").read_text().splitlines()]
        assert [e["n"] for e in written] == list(range(len(written)))  # whole, in order
        filler.unlink()
        eve.flush()
        eve.close()
        final = [json.loads(x)["n"] for x in (disk / "eve.json").read_text().splitlines()]
        assert final == list(range(200)) and not eve.backlog
    finally:
        subprocess.run(["umount", str(disk)], check=True)


def test_unwritable_backlog_is_bounded_and_counted(tmp_path):
    metrics = Metrics()
    eve = EveFile(str(tmp_path / "eve.json"), metrics, max_unwritten=3)
    os.close(eve._fd)
    eve._fd = os.open("/dev/full", os.O_WRONLY)  # every write fails with ENOSPC
    eve.write([f'{{"n": {i}}}' for i in range(10)])
    assert len(eve.backlog) == 3 and metrics.value("alert_lines_dropped") == 7
    assert metrics.value("write_errors", "ENOSPC") >= 1


def test_sessions_wait_for_quiet_then_report_like_triage(scored):
    sessions = LiveSessions(gap_s=300, report_s=10_000, max_flows=1_000_000)
    sessions.add(scored)
    last = int(scored["end"].max().timestamp() * NS)
    assert sessions.due(last + 10 * NS) is None  # still within the gap
    reported = sessions.due(last + 301 * NS)
    assert reported is not None and len(sessions) == 0
    offline = build_sessions(scored)
    assert sorted(reported["verdict"].to_list()) == sorted(offline.sessions["verdict"].to_list())
    assert sessions.held_back == Counter(offline.held_back["rule"].to_list())
    assert sorted(reported["session_id"].to_list()) == list(range(1, reported.height + 1))


def test_long_sessions_report_while_open_and_the_cap_reports_early(scored):
    first = int(scored["start"].min().timestamp() * NS)
    ongoing = LiveSessions(gap_s=300, report_s=5, max_flows=1_000_000)
    ongoing.add(scored)
    assert ongoing.due(first + 6 * NS) is not None  # reported before it went quiet
    capped = LiveSessions(gap_s=300, report_s=10_000, max_flows=100)
    capped.add(scored)
    early = capped.due(first)
    assert early is not None  # each early session is alerted or held back, and counted
    assert capped.reported_early == early.height + sum(capped.held_back.values())
    assert len(capped) <= 100


def test_pending_flows_shed_beyond_capacity_and_count_packets(mixed_flows):
    metrics = Metrics()
    pending = PendingFlows(100, metrics)
    pending.put(mixed_flows.select(np.arange(80)))
    pending.put(mixed_flows.select(np.arange(80, 160)))
    assert len(pending) == 100 and metrics.value("flows_shed") == 60
    shed = mixed_flows.select(np.arange(100, 160))
    assert metrics.value("packets_shed") == int(shed.packets_fwd.sum() + shed.packets_bwd.sum())
    taken = pending.take(64)
    assert len(taken) == 64 and len(pending) == 36
    assert list(taken.flow_id) == list(mixed_flows.flow_id[:64])


def test_every_counter_is_reported_before_it_counts_and_misnamed_ones_fail():
    metrics = Metrics()
    metrics.add("alerts", 2, "PortScan")
    stats = metrics.snapshot()
    assert set(HELP) <= set(stats)
    assert stats["alerts"] == {"PortScan": 2} and stats["sessions_held_back"] == {}
    assert stats["flows_scored"] == 0
    text = metrics.prometheus()
    for name in set(HELP) - LABELLED:
        assert f"{PREFIX}{name}_total 0" in text.splitlines()
    assert f'{PREFIX}alerts_total{{cause="PortScan"}} 2' in text
    with pytest.raises(KeyError, match="flows_scord"):
        metrics.add("flows_scord")
    with pytest.raises(ValueError, match="kept by cause"):
        metrics.add("alerts", 1)
    with pytest.raises(ValueError, match="not kept by cause"):
        metrics.set_total("flows_evicted", 3, "full")

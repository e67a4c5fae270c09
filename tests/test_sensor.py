"""The live sensor on a real link: a veth pair in a private namespace, frames injected by
tcpreplay, the sensor a real process capturing through its AF_PACKET ring.

CI runs as root and .ci/run installs tcpreplay and ethtool, so these run there;
they skip, visibly, only without root, iproute2 or tcpreplay.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from trafficlm.capture import CaptureReport, read_records

from conftest import REPO
from eve_files import alerts, eve_events, final_stats
from live_link import LiveLink, link_name, wait_until

MIXED = str(REPO / "pcaps" / "testbed-mixed.pcap")
RSS_BOUND_MIB = 1536  # documented in the README's sensor section
needs_link = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("ip") or not shutil.which("tcpreplay"),
    reason="live sensor tests need root, iproute2 and tcpreplay (.ci/run installs them)")


@pytest.fixture
def link():
    live = LiveLink(link_name())
    yield live
    live.close()


def packets_in(capture: str) -> int:
    """Frames in a capture file: what a replay puts on the link (framing only, no decoding)."""
    return sum(len(batch) for batch in read_records(capture, CaptureReport(capture)))


def accounted(stats: dict) -> int:
    return sum(sum(v.values()) if isinstance(v, dict) else v for v in (
        stats[k] for k in ("packets_scored", "packets_shed", "packets_skipped",
                                  "packets_dropped")))


def session_keys(events: list[dict]) -> list[tuple]:
    return sorted((e["src_ip"], e["dest_ip"], e["alert"]["signature"], e["trafficlm"]["flows"])
                  for e in events)


@needs_link
@pytest.mark.slow
def test_live_alerts_match_triage_of_the_same_capture(link, tmp_path):
    """Replay timing jitters by microseconds, and gaps and durations are tokens: so the
    offline side is triage of what tcpdump recorded beside the sensor (same kernel
    timestamps), and the replayed file itself must still give the same verdicts."""
    sensor = link.start_sensor(tmp_path)
    recorder = link.record(tmp_path / "seen.pcap")
    link.replay(MIXED)  # at the capture's own pace (~41 s)
    recorder.send_signal(signal.SIGINT)
    recorder.wait(30)
    assert sensor.stop() == 0
    live = alerts(sensor.eve)
    offline, offline_stats = triage(tmp_path / "seen.pcap", tmp_path)
    assert session_keys(live) == session_keys(offline)
    original = {key[:3] for key in session_keys(triage(MIXED, tmp_path)[0])}
    assert len({key[:3] for key in session_keys(live)} & original) >= len(original) - 1
    stats = final_stats(sensor.eve)
    assert stats["packets_received"] == packets_in(MIXED)
    assert stats["packets_kernel_dropped"] == 0
    assert accounted(stats) == stats["packets_received"]
    assert stats["sessions_held_back"] == offline_stats["sessions_held_back"]
    assert stats["alerts"] == offline_stats["alerts"]


def triage(capture, tmp_path) -> tuple[list[dict], dict]:
    """Triage's alerts for ``capture``, and what it counted (sessions held back, by rule)."""
    out = tmp_path / "triage.json"
    subprocess.run([sys.executable, "-m", "trafficlm.cli", "triage", str(capture),
                          "--format", "eve", "--out", str(out)], check=True,
                         capture_output=True, text=True, timeout=300)
    return alerts(out), final_stats(out)


@needs_link
@pytest.mark.slow
def test_sigterm_during_traffic_leaves_only_whole_lines(link, tmp_path):
    sensor = link.start_sensor(tmp_path, config="session_gap_s = 1.0\nsession_report_s = 1.0\n")
    replay = subprocess.Popen(["ip", "netns", "exec", link.ns, "tcpreplay", "-q", "-i",
                               "tlmsn-tap", "--multiplier", "4", MIXED],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_until(lambda: sensor.eve.exists() and sensor.eve.stat().st_size > 0, 60)
        assert sensor.stop() == 0  # mid-replay
    finally:
        replay.kill()
        replay.wait()
    events = eve_events(sensor.eve)  # every line parses: nothing torn
    assert events[-1]["event_type"] == "stats"
    stats = events[-1]["stats"]
    assert sum(stats["alerts"].values()) == len(alerts(sensor.eve))
    assert accounted(stats) == stats["packets_received"]


@needs_link
@pytest.mark.slow
def test_sighup_after_logrotate_moves_the_file(link, tmp_path):
    sensor = link.start_sensor(tmp_path, config="session_gap_s = 1.0\nsession_report_s = 2.0\n")
    link.replay(MIXED, "--multiplier", "4")
    assert wait_until(lambda: sensor.eve.exists() and alerts(sensor.eve), 30)
    rotated = tmp_path / "eve.json.1"
    sensor.eve.rename(rotated)
    sensor.signal(signal.SIGHUP)
    assert wait_until(lambda: "SIGHUP: reopened" in sensor.log.read_text(), 10)
    link.replay(MIXED, "--multiplier", "4")
    assert sensor.stop() == 0
    before, after = alerts(rotated), alerts(sensor.eve)
    assert before and after
    stats = final_stats(sensor.eve)
    assert len(before) + len(after) == sum(stats["alerts"].values())  # none lost


@needs_link
@pytest.mark.slow
def test_overload_sheds_and_counts_every_packet(link, tmp_path):
    sensor = link.start_sensor(tmp_path, config="max_pending_flows = 300\nscoring_batch = 64\n"
                                                "stats_interval_s = 1.0\n")
    replay = subprocess.Popen(["ip", "netns", "exec", link.ns, "timeout", "20", "tcpreplay",
                               "-q", "-i", "tlmsn-tap", "--topspeed", "--loop", "40", MIXED],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = 0.0
    while replay.poll() is None:
        assert sensor.process.poll() is None, sensor.log.read_text()
        peak = max(peak, sensor.rss_mib())
        time.sleep(0.5)
    metrics = link.run("curl", "-s", "127.0.0.1:9781/metrics").stdout
    assert "trafficlm_sensor_packets_received_total" in metrics
    assert sensor.stop(timeout=300) == 0
    stats = final_stats(sensor.eve)
    assert stats["packets_received"] > packets_in(MIXED) * 2
    assert stats["flows_shed"] > 0  # the model cannot keep up at top speed on 2 cores
    assert accounted(stats) == stats["packets_received"]
    assert peak < RSS_BOUND_MIB, f"resident memory peaked at {peak:.0f} MiB"


@needs_link
def test_bad_setup_fails_at_once_with_one_line(link, tmp_path):
    def sensor(*args: str, as_nobody: bool = False) -> subprocess.CompletedProcess:
        drop = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] if as_nobody else []
        return link.run(*drop, sys.executable, "-m", "trafficlm.cli", "sensor", "--metrics", "",
                        *args, check=False, timeout=60)

    link.run("ip", "link", "add", "tlmsn-down", "type", "veth", "peer", "name", "tlmsn-down2")
    config = tmp_path / "bad.toml"
    config.write_text("iface = 'tlmsn-in'\nring_megabytes = 4\n")
    cases = {
        ("--iface", "nosuch0"): "nosuch0: no such network interface",
        ("--iface", "tlmsn-down"): "tlmsn-down: interface is down",
        ("--iface", "tlmsn-in", "--eve", "/proc/nope/eve.json"): "cannot write alerts",
        ("--iface", "tlmsn-in", "--eve", str(tmp_path / "e.json"), "--model", str(tmp_path)):
            "missing config.json",
        ("--config", str(config)): "unknown key 'ring_megabytes'",
        ("--iface", "tlmsn-in", "--bpf", "port port"): "bad capture filter",
    }
    for args, message in cases.items():
        result = sensor(*args)
        assert result.returncode == 1, (args, result.stderr)
        assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    unprivileged = sensor("--iface", "tlmsn-in", as_nobody=True)
    assert unprivileged.returncode == 1 and "CAP_NET_RAW" in unprivileged.stderr

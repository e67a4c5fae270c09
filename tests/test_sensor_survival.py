"""The live sensor survives what ordinary traffic, operators and local users do to it: a
first report that holds everything back, a SIGHUP with a half-copied model, a link that
goes down and up, a thousand slow connections to its metrics port; and, run as its own
user, it never writes through a planted link and can reopen its file after logrotate.

The real daemon on a veth pair in a private namespace (see live_link), as CI runs it."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from test_sensor import needs_link

from trafficlm.model import DEFAULT_MODEL_DIR

from conftest import CORPUS
from crafted_floods import spoofed_syn_flood
from eve_files import eve_events
from live_link import SENSOR_END, LiveLink, link_name, wait_until

FINGERPRINTING = CORPUS / "chrissanders-packets" / "activeosfingerprinting.pcapng"
SLOW_CLIENTS = 1000
HOLD_ALL = "".join(f"{floor} = 1000000\n" for floor in (  # no session reaches these
    "min_dos_flows", "min_scan_targets", "min_brute_force_flows", "min_tunnel_flows",
    "min_dos_packets", "min_unknown_flows"))
# run inside the namespace: hold SLOW_CLIENTS half-sent requests open, then scrape once
SLOWLORIS = f"""
import resource, socket, sys, urllib.request
resource.setrlimit(resource.RLIMIT_NOFILE, (4096, 4096))
held = []
for _ in range({SLOW_CLIENTS}):
    s = socket.create_connection(("127.0.0.1", 9781), timeout=5)
    s.send(b"GET /metr")
    held.append(s)
body = urllib.request.urlopen("http://127.0.0.1:9781/metrics", timeout=10).read()
print(len(body), flush=True)
sys.stdin.readline()  # hold them until the test has sent its SIGHUP
"""


@pytest.fixture
def link():
    live = LiveLink(link_name())
    yield live
    live.close()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def idle_cpu_share(pid: int, seconds: float = 3.0) -> float:
    before = cpu_seconds(pid)
    time.sleep(seconds)
    return (cpu_seconds(pid) - before) / seconds


@needs_link
@pytest.mark.slow
def test_the_sensor_survives_traffic_signals_link_flaps_and_slow_clients(link, tmp_path):
    if not FINGERPRINTING.exists():
        pytest.skip("the shared corpus is missing")
    model = tmp_path / "model"
    shutil.copytree(DEFAULT_MODEL_DIR, model)
    sensor = link.start_sensor(tmp_path, "--model", str(model),
                               config="session_gap_s = 1.0\nsession_report_s = 2.0\n" + HOLD_ALL)
    log = sensor.log.read_text

    # nmap -O: every session of the first report is held back (the sensor died here; the
    # floors make sure of it, whatever the model calls the probes)
    link.replay(str(FINGERPRINTING))
    time.sleep(5)  # two report turns after the traffic went quiet
    assert sensor.process.poll() is None, log()

    # a half-copied model: SIGHUP keeps the old one and says so
    (model / "calibration.json").write_text("{half")
    sensor.signal(signal.SIGHUP)
    assert wait_until(lambda: "SIGHUP: keeping the current model" in log(), 10), log()
    assert sensor.process.poll() is None

    # link down and up: ENETDOWN is read and counted, the loop goes back to sleep
    link.run("ip", "link", "set", SENSOR_END, "down")
    time.sleep(1)
    link.run("ip", "link", "set", SENSOR_END, "up")
    time.sleep(2)
    assert idle_cpu_share(sensor.process.pid) < 0.05
    assert "reported ENETDOWN" in log()

    # a thousand slow clients: a scrape is still answered, and SIGHUP still works
    shutil.copy(DEFAULT_MODEL_DIR / "calibration.json", model / "calibration.json")
    clients = subprocess.Popen(["ip", "netns", "exec", link.ns, sys.executable, "-c", SLOWLORIS],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert int(clients.stdout.readline() or 0) > 1000  # the scrape came back
        sensor.signal(signal.SIGHUP)
        assert wait_until(lambda: "SIGHUP: reopened" in log(), 10), log()
    finally:
        clients.communicate("\n", timeout=30)

    assert sensor.stop() == 0
    events = eve_events(sensor.eve)
    assert events[-1]["event_type"] == "stats"
    stats = events[-1]["stats"]
    assert stats["capture_errors"]["ENETDOWN"] >= 1
    assert sum(stats["sessions_held_back"].values()) >= 1
    assert sum(stats["metrics_connections_dropped"].values()) >= SLOW_CLIENTS - 64


@pytest.fixture
def nobody_dir():
    """A folder the user nobody owns, on a path nobody may walk (pytest's tmp is root's)."""
    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no user 'nobody' to run the sensor as")
    top = Path(tempfile.mkdtemp(prefix="trafficlm-user-"))
    top.chmod(0o755)
    logs = top / "log"
    logs.mkdir()
    os.chown(logs, nobody.pw_uid, nobody.pw_gid)
    yield logs, nobody
    shutil.rmtree(top)


@needs_link
@pytest.mark.slow
def test_as_its_own_user_the_sensor_reopens_after_logrotate_and_refuses_links(
        link, tmp_path, nobody_dir):
    logs, nobody = nobody_dir
    eve = logs / "eve.json"

    def start(*extra: str) -> subprocess.CompletedProcess | subprocess.Popen:
        return [sys.executable, "-m", "trafficlm.cli", "sensor", "--iface", SENSOR_END,
                "--metrics", "", "--user", "nobody", "--eve", str(eve), *extra]

    # a link planted where the EVE file goes: refused, its target untouched
    target = tmp_path / "precious"
    target.write_text("keep")
    eve.symlink_to(target)
    refused = link.run(*start(), check=False, timeout=60)
    assert refused.returncode == 1 and "is a symbolic link" in refused.stderr
    assert target.read_text() == "keep"
    eve.unlink()

    # a folder the user cannot write: refused at start, not at the first rotation
    locked = tmp_path / "locked.json"
    result = link.run(*start()[:-1], str(locked), check=False, timeout=60)
    assert result.returncode == 1 and "not writable by nobody" in result.stderr

    log_path = tmp_path / "sensor.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(["ip", "netns", "exec", link.ns, *start()], stdout=log,
                                   stderr=subprocess.STDOUT)
    try:
        assert wait_until(lambda: "capturing on" in log_path.read_text(), 60)
        assert eve.stat().st_uid == nobody.pw_uid
        eve.rename(logs / "eve.json.1")  # what logrotate does
        process.send_signal(signal.SIGHUP)
        assert wait_until(lambda: "SIGHUP: reopened" in log_path.read_text(), 10), \
            log_path.read_text()
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) == 0
    finally:
        if process.poll() is None:
            process.kill()
    assert eve.stat().st_uid == nobody.pw_uid
    assert eve_events(eve)[-1]["event_type"] == "stats"  # written by the dropped user


@needs_link
@pytest.mark.slow
def test_a_spoofed_flood_on_the_wire_is_a_handful_of_alerts(link, tmp_path):
    flood = spoofed_syn_flood(tmp_path / "flood.pcap", packets=200_000, seconds=20.0)
    sensor = link.start_sensor(tmp_path, config="session_gap_s = 5.0\nsession_report_s = 2.0\n")
    link.replay(str(flood), "--topspeed", timeout=120)
    assert sensor.stop(timeout=300) == 0
    alerts = [e for e in eve_events(sensor.eve) if e["event_type"] == "alert"]
    assert 1 <= len(alerts) <= 5
    for alert in alerts:
        assert alert["dest_ip"] == "10.203.0.10" and alert["trafficlm"]["sources"] > 1000
        assert "hosts (e.g. 198.1" in alert["trafficlm"]["explanation"]

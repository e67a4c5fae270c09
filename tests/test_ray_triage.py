"""`trafficlm triage --ray`: real Ray clusters on this machine give what one process gives."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import CORPUS, REPO
from eve_files import events_of

pytest.importorskip("ray")

# real captures with alerts (floods, a scan, FTP guessing) and without, in three link layers
CORPUS_CAPTURES = ("rusllang-ml-qos/syn_flood.pcap", "rusllang-ml-qos/icmp_flood.pcap",
                   "rusllang-ml-qos/ddos.pcap", "chrissanders-packets/ppa1e__portscan.pcap",
                   "chrissanders-packets/ppa1e__dosattack.pcap", "zeek-traces/ftp__bruteforce.pcap",
                   "zeek-traces/nmap-vsn.pcap", "zeek-traces/ftp__ipv6.pcap",
                   "suricata-verify/ftp-epsv__input.pcap")
MIXED = REPO / "pcaps" / "testbed-mixed.pcap"
RAY = str(Path(sys.executable).with_name("ray"))


def _triage(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "trafficlm.cli", "triage", *args],
                          capture_output=True, text=True, timeout=timeout)


def _results(captures: Path, tmp: Path, *ray: str) -> tuple[int, list[dict], list[dict], str]:
    """(exit code, sessions as JSON lines, EVE events, stderr) of one triage run."""
    name = "-".join(ray).replace(":", "_") or "local"
    eve = tmp / f"{name}.eve.json"
    runs = [_triage(str(captures), *ray, "--format", "jsonl"),
            _triage(str(captures), *ray, "--format", "eve", "--out", str(eve))]
    assert runs[0].returncode == runs[1].returncode, runs[1].stderr
    sessions = [json.loads(line) for line in runs[0].stdout.splitlines()]
    return runs[0].returncode, sessions, _untimed(events_of(eve.read_text())), runs[0].stderr


def _untimed(events: list[dict]) -> list[dict]:
    """EVE events less the stats event's timestamp: the moment the counts were written."""
    return [{k: v for k, v in e.items() if e["event_type"] != "stats" or k != "timestamp"}
            for e in events]


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory) -> Path:
    """Corpus captures, and one cut short mid-record, in one directory."""
    missing = [c for c in CORPUS_CAPTURES if not (CORPUS / c).exists()]
    if missing:
        pytest.skip(f"corpus captures missing: {missing}")
    folder = tmp_path_factory.mktemp("archive")
    for name in CORPUS_CAPTURES:
        (folder / name.replace("/", "__")).symlink_to(CORPUS / name)
    whole = (CORPUS / CORPUS_CAPTURES[0]).read_bytes()
    (folder / "zz-cut-short.pcap").write_bytes(whole[: len(whole) // 2 + 7])
    return folder


@pytest.fixture(scope="module")
def local(corpus_dir, tmp_path_factory) -> tuple[int, list[dict], list[dict], str]:
    return _results(corpus_dir, tmp_path_factory.mktemp("local"))


def test_ray_local_equals_one_process(corpus_dir, local, tmp_path):
    code, sessions, eve, stderr = _results(corpus_dir, tmp_path, "--ray", "local",
                                           "--workers", "2")
    assert local[0] == code == 3  # the cut capture is named; the rest is still triaged
    assert "zz-cut-short.pcap" in stderr
    assert local[1]  # real sessions (floods), not two empty reports
    assert sessions == local[1]
    assert eve == local[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ray_node(*args: str, env: dict) -> subprocess.Popen:
    return subprocess.Popen([RAY, "start", "--block", "--disable-usage-stats", "--num-cpus", "1",
                             "--node-ip-address", "127.0.0.1", *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


def _wait_for_nodes(address: str, count: int, env: dict) -> None:
    probe = ("import ray, sys; ray.init(address=sys.argv[1], logging_level='ERROR');"
             "print(sum(n['Alive'] for n in ray.nodes()))")
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        seen = subprocess.run([sys.executable, "-c", probe, address], env=env,
                              capture_output=True, text=True, timeout=60)
        if seen.stdout.strip() == str(count):
            return
        time.sleep(1)
    pytest.fail(f"the Ray cluster at {address} never had {count} nodes")


def _stop(node: subprocess.Popen) -> None:
    """``ray start --block`` takes its node's processes down when it is signalled."""
    os.killpg(node.pid, signal.SIGTERM)
    try:
        node.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(node.pid, signal.SIGKILL)
        node.wait(timeout=30)


def test_two_node_cluster_equals_one_process(corpus_dir, local, tmp_path, monkeypatch):
    # a head started by `ray start` wants the token it writes to ~/.ray; clients must ask for it
    monkeypatch.setenv("RAY_AUTH_MODE", "token")
    env = dict(os.environ)
    port = _free_port()
    address = f"127.0.0.1:{port}"
    head = _ray_node("--head", "--port", str(port), "--include-dashboard=false", env=env)
    nodes = [head]
    try:
        _wait_for_nodes(address, 1, env)
        nodes.append(_ray_node("--address", address, env=env))
        _wait_for_nodes(address, 2, env)
        code, sessions, eve, _ = _results(corpus_dir, tmp_path, "--ray", address)
    finally:
        for node in reversed(nodes):
            _stop(node)
    assert code == local[0]
    assert sessions == local[1]
    assert eve == local[2]


def _busy_worker() -> int | None:
    """The pid of a Ray worker process in the middle of scoring a file."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            title = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if title.startswith(b"ray::ScoringWorker.score"):
            return int(entry.name)
    return None


def test_a_killed_worker_costs_no_file(tmp_path):
    archive = tmp_path / "archive"
    archive.mkdir()
    for name in "abcd":  # four copies of a capture that takes seconds to score
        (archive / f"{name}.pcap").symlink_to(MIXED)
    expected = _triage(str(archive), "--format", "eve")
    run = subprocess.Popen([sys.executable, "-m", "trafficlm.cli", "triage", str(archive),
                            "--ray", "local", "--workers", "2", "--format", "eve"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    killed = None
    deadline = time.monotonic() + 120
    while killed is None and run.poll() is None and time.monotonic() < deadline:
        killed = _busy_worker()
        time.sleep(0.02)
    assert killed is not None, "no worker was ever seen scoring"
    os.kill(killed, signal.SIGKILL)
    stdout, stderr = run.communicate(timeout=300)
    assert "its Ray worker died" in stderr and "scoring it again" in stderr
    assert run.returncode == expected.returncode == 0
    # the same alerts, and the same counts: the retried capture's flows were counted once
    events = _untimed(events_of(stdout))
    assert events == _untimed(events_of(expected.stdout)) and len(events) > 1
    assert [e["event_type"] for e in events] == ["alert"] * (len(events) - 1) + ["stats"]

"""The labelled-traffic testbed, end to end, as root in network namespaces.

CI runs as root and .ci/run installs the tools, so this runs there; it skips
(visibly) only where root or network namespaces are missing.
"""

from __future__ import annotations

import csv
import os
import shutil
import signal
import subprocess
import time

import pytest

from trafficlm.capture import CaptureReport, read_packets
from trafficlm.cli import main
from trafficlm.training.testbed.runner import RunOptions, run_testbed
from trafficlm.training.testbed.servers import LOGIN_USER
from trafficlm.training.testbed.world import SUBNET, draw_world

needs_root = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("ip") is None,
                                reason="the testbed needs root and iproute2")
SHORT = ["web_browsing", "dns_lookups", "portscan_syn", "ssh_bruteforce", "xss"]


def host_state() -> tuple[str, str]:
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    return netns, "\n".join(sorted(line.split(":")[1] for line in links.splitlines()))


def read_labels(path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [{k.strip(): v for k, v in row.items()} for row in csv.DictReader(f)]


@pytest.mark.slow
@needs_root
def test_short_profile_labels_flows_and_leaves_nothing_behind(tmp_path):
    before = host_state()
    user_existed = subprocess.run(["id", LOGIN_USER], capture_output=True).returncode == 0
    leak = tmp_path / "host.pcap"
    sniffer = subprocess.Popen(["timeout", "300", "tcpdump", "-i", "any", "-n", "-U", "-w",
                                str(leak), "net", f"{SUBNET}.0/24"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1)
    try:
        manifest = run_testbed(RunOptions(out=tmp_path / "tb", scenarios=SHORT, seconds=10),
                               say=lambda m: None)
    finally:
        sniffer.send_signal(signal.SIGINT)
        sniffer.wait(timeout=20)

    assert [s["status"] for s in manifest["steps"]] == ["ok"] * 5, manifest["steps"]
    labels = {label for step in manifest["steps"] for label in step["flows"]}
    assert {"BENIGN", "PortScan", "SSH-Patator", "Web Attack \u2013 XSS"} <= labels

    scan = read_labels(tmp_path / "tb" / "labels" / "portscan_syn.csv")
    attacker_ip = draw_world("lab", 0).address("attacker")
    attacker = [r for r in scan if attacker_ip in (r["Source IP"], r["Destination IP"])]
    assert len(attacker) >= 900  # 1,000 ports probed
    assert {r["Label"] for r in attacker} == {"PortScan"}
    assert {r["Label"] for r in scan if r not in attacker} <= {"BENIGN"}

    for step in manifest["steps"]:  # every flow of every capture has a label
        capture = tmp_path / "tb" / "captures" / f"{step['name']}.pcap"
        rows = read_labels(tmp_path / "tb" / "labels" / f"{step['name']}.csv")
        assert len(rows) == sum(step["flows"].values()) > 0
        assert main(["flows", str(capture), "--format", "jsonl", "--out",
                     str(tmp_path / "f.jsonl")]) == 0
        assert len((tmp_path / "f.jsonl").read_text().splitlines()) == len(rows)

    report = CaptureReport(str(leak))
    assert sum(len(b) for b in read_packets(str(leak), report)) == 0  # nothing left the namespaces
    assert host_state() == before
    assert (subprocess.run(["id", LOGIN_USER], capture_output=True).returncode == 0) == user_existed


def test_refuses_a_non_empty_output_directory(tmp_path, capsys):
    (tmp_path / "old.txt").write_text("keep me")
    assert main(["testbed", "run", "--out", str(tmp_path), "--seconds", "1"]) == 1
    err = capsys.readouterr().err
    assert "is not empty (use --force" in err and err.count("\n") == 1
    assert (tmp_path / "old.txt").read_text() == "keep me"


def test_unknown_scenario_is_named(tmp_path, capsys):
    assert main(["testbed", "run", "--out", str(tmp_path / "o"), "--scenarios", "nope"]) == 1
    assert "unknown scenario 'nope'" in capsys.readouterr().err


def test_not_root_is_one_clear_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)  # what an unprivileged user's process sees
    assert main(["testbed", "run", "--out", str(tmp_path / "o")]) == 1
    assert capsys.readouterr().err == ("trafficlm: error: the testbed needs root "
                                       "(it creates network namespaces)\n")
    assert not (tmp_path / "o").exists()

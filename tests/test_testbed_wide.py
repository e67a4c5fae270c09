"""The wide profile end to end, as root: drawn conditions reach the wire, nothing gets out.

Two short wide runs with different seeds (about a minute each). The drawn
delays must show in the capture's handshakes, the drawn initial TTL and TCP
options in every SYN, spoofed floods must stay inside the testbed's own
ranges, and the host must be left as it was.
"""

from __future__ import annotations

import ipaddress
import signal
import statistics
import subprocess
import time
from collections import defaultdict

import pytest
from scapy.layers.inet import IP, TCP
from scapy.utils import PcapReader
from test_testbed import host_state, needs_root, read_labels

from trafficlm.capture import CaptureReport, read_packets
from trafficlm.flows.frame import flows_frame
from trafficlm.pipeline import capture_flows
from trafficlm.training.testbed.many import is_complete, run_many
from trafficlm.training.testbed.runner import RunOptions, run_testbed
from trafficlm.training.testbed.world import SPOOF_RANGE, SUBNET, draw_world

SEEDS = (9, 12)  # two worlds whose HTTP, DNS and FTP programs differ (checked below)
SHORT_WIDE = ["web_browsing", "ssh_interactive", "portscan", "syn_flood"]
INSIDE = (ipaddress.ip_network(f"{SUBNET}.0/24"), ipaddress.ip_network(SPOOF_RANGE))


@pytest.fixture(scope="module")
def wide_runs(tmp_path_factory):
    """Both runs, with a sniffer on every host interface for anything of the testbed's."""
    root = tmp_path_factory.mktemp("wide")
    before = host_state()
    leak = root / "host.pcap"
    sniffer = subprocess.Popen(["timeout", "400", "tcpdump", "-i", "any", "-n", "-U", "-w",
                                str(leak), "net", f"{SUBNET}.0/24", "or", "net", SPOOF_RANGE],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1)
    try:
        manifests = [run_testbed(RunOptions(out=root / f"seed{seed}", scenarios=SHORT_WIDE,
                                            seconds=5, seed=seed, mixed=False, profile="wide"),
                                 say=lambda m: None) for seed in SEEDS]
    finally:
        sniffer.send_signal(signal.SIGINT)
        sniffer.wait(timeout=20)
    return root, manifests, leak, before


def handshakes(path):
    """Per TCP connection seen from its SYN: the bridge times of SYN, SYN-ACK and ACK;
    and per SYN or SYN-ACK its sender, TTL, options and whether it was the SYN-ACK."""
    times: dict[tuple, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    syns = []
    with PcapReader(str(path)) as packets:
        for packet in packets:
            if IP not in packet or TCP not in packet:
                continue
            ip, tcp = packet[IP], packet[TCP]
            flags, t = int(tcp.flags), float(packet.time)
            if flags & 0x12 == 0x02:
                times[(ip.src, tcp.sport, ip.dst, tcp.dport)]["syn"].append(t)
                syns.append((ip.src, ip.ttl, dict(tcp.options), False))
            elif flags & 0x12 == 0x12:
                times[(ip.dst, tcp.dport, ip.src, tcp.sport)]["synack"].append(t)
                syns.append((ip.src, ip.ttl, dict(tcp.options), True))
            elif flags & 0x10 and not flags & 0x07:
                key = (ip.src, tcp.sport, ip.dst, tcp.dport)
                if key in times and "synack" in times[key] and "ack" not in times[key]:
                    times[key]["ack"].append(t)
    return times, syns


@needs_root
@pytest.mark.slow
def test_drawn_delays_ttls_and_options_are_what_the_capture_shows(wide_runs):
    root, manifests, _, _ = wide_runs
    for seed, manifest in zip(SEEDS, manifests, strict=True):
        assert [s["status"] for s in manifest["steps"]] == ["ok"] * 3, manifest  # benign + 2
        hosts = {h["address"]: h for h in manifest["conditions"]["hosts"].values()}
        server_delay, client_delay = defaultdict(list), defaultdict(list)
        checked_syns = 0
        for step in ("benign", "portscan"):
            times, syns = handshakes(root / f"seed{seed}" / "captures" / f"{step}.pcap")
            for src, ttl, options, synack in syns:
                if step == "portscan" and not synack:
                    continue  # nmap crafts its own SYNs, TTL and options included
                stack = hosts[src]["stack"]
                assert ttl == stack["ttl"], (seed, src, ttl, stack)
                assert options["MSS"] <= hosts[src]["link"]["mtu"] - 40
                if not synack:
                    assert ("Timestamp" in options) == stack["timestamps"], (src, options)
                    assert ("WScale" in options) == stack["window_scaling"], (src, options)
                checked_syns += 1
            for (client, _, server, _), seen in times.items():
                if len(seen["syn"]) == 1 and len(seen["synack"]) == 1 and seen["ack"]:
                    server_delay[server].append(seen["synack"][0] - seen["syn"][0])
                    client_delay[client].append(seen["ack"][0] - seen["synack"][0])
        assert checked_syns >= 8
        measured = [(a, d, "server") for a, d in server_delay.items()] + [
            (a, d, "client") for a, d in client_delay.items()]
        assert len(measured) >= 3
        for address, delays, side in measured:
            link = hosts[address]["link"]
            median_ms = statistics.median(delays) * 1000
            slack = 3 * link["jitter_ms"] + 5.0
            assert link["delay_ms"] - slack <= median_ms <= link["delay_ms"] + slack + 5.0, (
                seed, side, address, median_ms, link)


@needs_root
@pytest.mark.slow
def test_spoofed_floods_stay_inside_and_nothing_is_left_behind(wide_runs):
    root, manifests, leak, before = wide_runs
    spoofed = 0
    for seed in SEEDS:
        for capture in (root / f"seed{seed}" / "captures").glob("*.pcap"):
            report = CaptureReport(str(capture))
            for flows in capture_flows(str(capture), report):
                frame = flows_frame(flows)
                for address in {*frame["src_ip"].to_list(), *frame["dst_ip"].to_list()}:
                    ip = ipaddress.ip_address(address)
                    if ip.version == 6:  # the veths' own link-local chatter stays on the link
                        assert ip.is_link_local or ip.is_multicast or ip.is_unspecified, ip
                        continue
                    assert any(ip in net for net in INSIDE), (capture, address)
                    spoofed += ip in INSIDE[1]
        flood = read_labels(root / f"seed{seed}" / "labels" / "syn_flood.csv")
        forged = [r for r in flood if ipaddress.ip_address(r["Source IP"]) in INSIDE[1]]
        assert {r["Label"] for r in forged} <= {"DoS Syn Flood"}
    assert spoofed > 0  # at least one of the two floods forged its sources
    assert all(m["foreign_source_drops"] == {"attacker": 0, "attacker2": 0} for m in manifests)
    report = CaptureReport(str(leak))
    assert sum(len(b) for b in read_packets(str(leak), report)) == 0
    assert host_state() == before


@needs_root
@pytest.mark.slow
def test_two_seeds_differ_in_conditions_programs_and_tools(wide_runs):
    _, manifests, _, _ = wide_runs
    first, second = (m["conditions"] for m in manifests)
    assert first["hosts"] != second["hosts"]
    programs = [{s: p["program"] for s, p in c["services"].items()} for c in (first, second)]
    assert programs[0]["http"] != programs[1]["http"]
    assert programs[0]["dns"] != programs[1]["dns"]
    tools = [[a["scenario"] for s in m["steps"] for a in s["attacks"]] for m in manifests]
    assert tools[0] != tools[1]
    for manifest in manifests:
        for step in manifest["steps"]:
            for attack in step["attacks"]:
                assert attack["commands"] and attack["commands_total"] >= 1
                assert attack["commands"][0].split()[0] in attack["tools"]
    assert draw_world("wide", SEEDS[0]).record() == first


@needs_root
@pytest.mark.slow
def test_many_keeps_complete_runs_and_makes_interrupted_ones_again(tmp_path):
    template = RunOptions(out=tmp_path, scenarios=["dns_resolver_mix"], seconds=2,
                          mixed=False, profile="wide")
    (tmp_path / "seed9").mkdir()
    (tmp_path / "seed9" / "manifest.json").write_text('{"complete": false}')  # interrupted
    (tmp_path / "seed9" / "left-over").write_text("x")
    said: list[str] = []
    runs = run_many(template, [9], say=said.append)
    assert runs == [tmp_path / "seed9"] and is_complete(runs[0])
    assert not (tmp_path / "seed9" / "left-over").exists()
    assert any("interrupted run is there" in line for line in said)
    stamp = (runs[0] / "manifest.json").stat().st_mtime
    said.clear()
    assert run_many(template, [9], say=said.append) == runs
    assert said == ["seed 9: complete already, kept (1/1)"]
    assert (runs[0] / "manifest.json").stat().st_mtime == stamp


@needs_root
def test_a_forged_flood_keeps_its_packets_within_a_small_link_mtu():
    """A raw socket's packets are never fragmented: a 1,400-byte echo flood on a 1,400-byte
    link used to die on its first packet (EMSGSIZE), leaving the run without its ICMP
    flood. Every packet must leave, cut to the link's MTU."""
    from trafficlm.training.testbed.wide_scenarios import MANY_SOURCE_FLOOD

    names = ("tlm-mtu-a", "tlm-mtu-b")
    try:
        for name in names:
            subprocess.run(["ip", "netns", "add", name], check=True)
        subprocess.run(["ip", "link", "add", "eth0", "netns", names[0], "type", "veth", "peer",
                        "name", "eth0", "netns", names[1]], check=True)
        for k, name in enumerate(names):
            for command in (["addr", "add", f"10.99.0.{k + 1}/24", "dev", "eth0"],
                            ["link", "set", "eth0", "up", "mtu", "1400"]):
                subprocess.run(["ip", "-n", name, *command], check=True)
        sent = subprocess.run(["ip", "netns", "exec", names[0], "python3", "-c",
                               MANY_SOURCE_FLOOD, "10.99.0.2", "0", "20", "0.5", "0", "1",
                               SPOOF_RANGE, "icmp", "1400"],
                              capture_output=True, text=True, timeout=60)
        assert sent.returncode == 0, sent.stderr
        transmitted = subprocess.run(["ip", "netns", "exec", names[0], "cat",
                                      "/sys/class/net/eth0/statistics/tx_packets"],
                                     capture_output=True, text=True, check=True).stdout
        assert int(transmitted) >= 20
    finally:
        for name in names:
            subprocess.run(["ip", "netns", "del", name], capture_output=True)

"""The wide profile's world, plan and link impairment, without root: what a seed draws (and,
as root, what the many-source flood puts on a wire of its own)."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.utils import PcapReader

from trafficlm.tokenizer import TrafficTokenizer
from trafficlm.training.testbed import public_names
from trafficlm.training.testbed.conditions import CONGESTION_CONTROLS, draw_stack
from trafficlm.training.testbed.diversity import _distinct_conditions
from trafficlm.training.testbed.impairment import NF_DROP, DelayLine, Impairment
from trafficlm.training.testbed.labels import AttackWindow, _label
from trafficlm.training.testbed.many import (
    is_complete,
    parse_seeds,
    summarise,
    summary_markdown,
)
from trafficlm.training.testbed.office_protocols import (
    kerberos_logins,
    sip_calls,
    unanswered_lookups,
)
from trafficlm.training.testbed.plan import plan_run
from trafficlm.training.testbed.scenarios import BENIGN, Budget
from trafficlm.training.testbed.server_programs import PROGRAMS as SERVER_PROGRAMS
from trafficlm.training.testbed.server_programs import WEBAPP_PORT, ServerContext
from trafficlm.training.testbed.shell import TestbedError as RefusedRun
from trafficlm.training.testbed.webapp import SEARCH_PAGES, SEARCH_PARAMS
from trafficlm.training.testbed.website import plan_site
from trafficlm.training.testbed.wide_scenarios import (
    ATTACK_SLOTS,
    INVENTORY_PORTS,
    inventory_sweep,
    nmap_sweep,
    service_checks,
    ssh_checks,
)
from trafficlm.training.testbed.world import PROGRAMS, SPOOF_RANGE, LoginPolicy, draw_world

ALL_TOOLS: dict[str, str] = {}  # nothing missing


def test_the_lab_world_is_the_old_lab():
    world = draw_world("lab", 7)
    assert [(h.name, h.address) for h in world.hosts] == [
        ("server", "10.203.0.10"), ("client", "10.203.0.20"), ("attacker", "10.203.0.66")]
    assert not world.applies_conditions
    assert {p.program for p in world.services.values()} == {
        "nginx", "openssh", "vsftpd", "dnsmasq", "mosquitto", "iperf3"}
    assert (world.hosts, world.services) == (draw_world("lab", 8).hosts,
                                             draw_world("lab", 8).services)


def test_a_seed_draws_the_same_wide_world_again_and_another_seed_another():
    assert draw_world("wide", 3) == draw_world("wide", 3)
    worlds = [draw_world("wide", seed) for seed in range(1, 13)]
    links = {(h.link.delay_ms, h.link.mtu, h.stack.family) for w in worlds for h in w.hosts}
    assert len(links) > 40
    for service, programs in PROGRAMS.items():  # every program of a service gets drawn
        drawn = {w.services[service].program for w in worlds}
        assert drawn == set(programs), service
    assert {w.services["ftp"].host for w in worlds} == {"server", "server2"}
    delays = [h.link.delay_ms for w in worlds for h in w.hosts]
    assert min(delays) == 0.0 and max(delays) > 90  # LAN to intercontinental
    assert {h.stack.ttl for w in worlds for h in w.hosts} == {64, 128, 255}


def test_every_world_is_recorded_with_its_conditions():
    world = draw_world("wide", 5)
    record = world.record()
    assert set(record["hosts"]) == {h.name for h in world.hosts}
    for host in record["hosts"].values():
        assert {"delay_ms", "jitter_ms", "loss", "reorder", "rate_mbit", "mtu"} <= set(
            host["link"])
        assert {"ttl", "timestamps", "sack", "window_scaling", "ecn", "congestion"} <= set(
            host["stack"])
    assert record["spoofed_source_range"] == "198.18.0.0/15"
    assert all(s["program"] in SERVER_PROGRAMS for s in record["services"].values())
    assert record["services"]["icmp_proxy"]["host"] == record["services"]["ssh"]["host"]


def test_congestion_control_is_drawn_the_same_whatever_the_kernel_allows():
    full = [draw_stack(random.Random(s), CONGESTION_CONTROLS) for s in range(30)]
    narrow = [draw_stack(random.Random(s), ("reno",)) for s in range(30)]
    assert [s.family for s in full] == [s.family for s in narrow]
    assert {s.congestion for s in narrow} == {"reno"}
    assert len({s.congestion for s in full}) == 3


def test_the_wide_plan_has_sixteen_attack_labels_and_draws_tools_per_seed():
    labels = {v.label for variants in ATTACK_SLOTS.values() for v in variants}
    assert len(labels - {BENIGN}) >= 16
    plans = [plan_run("wide", seed, None).runnable(ALL_TOOLS) for seed in range(1, 9)]
    chosen = {name for p in plans for _, s in p.attacks for name in [s.name]}
    assert {"hydra_ssh", "medusa_ssh", "ncrack_ssh", "patator_ssh"} & chosen
    assert len(chosen) > len(ATTACK_SLOTS) + 5  # several variants per slot over the seeds
    assert plan_run("wide", 4, None).runnable(ALL_TOOLS).attacks == plans[3].attacks


def test_a_slot_whose_tools_are_missing_falls_back_or_is_skipped():
    plan = plan_run("wide", 1, ["ssh_bruteforce", "icmp_tunnel"])
    missing = {"hydra": "hydra (hydra): not installed", "medusa": "m", "ncrack": "n",
               "ptunnel-ng": "ptunnel-ng (ptunnel-ng): not installed"}
    runnable = plan.runnable(missing)
    assert [(slot, s.name) for slot, s in runnable.attacks] == [("ssh_bruteforce", "patator_ssh")]
    assert runnable.skipped == {"icmp_tunnel": "ptunnel-ng (ptunnel-ng): not installed"}


def test_unknown_names_are_refused_per_profile():
    with pytest.raises(RefusedRun, match="unknown scenario 'portscan_syn'"):
        plan_run("wide", 1, ["portscan_syn"])  # a lab name
    with pytest.raises(RefusedRun, match="unknown scenario 'c2_beacon'"):
        plan_run("lab", 1, ["c2_beacon"])


def test_the_wide_site_has_hundreds_of_pages_with_assets_of_varied_size():
    site = plan_site("wide", 2)
    assert 120 <= len(site.pages) <= 400
    sizes = sorted(site.assets.values())
    assert sizes[-1] > 10 * sizes[len(sizes) // 2] > 0  # long-tailed
    assert all(set(p.assets) <= set(site.assets) for p in site.pages)
    assert plan_site("lab", 2).page_paths == tuple(f"/docs/page{i}.html" for i in range(20))


def test_the_delay_line_keeps_order_delays_and_loses_what_it_draws():
    line = DelayLine(Impairment(40.0, 5.0, 0.02, 0.0), random.Random(1))
    dropped = sum(line.admit(i, now=i * 0.001) == NF_DROP for i in range(5000))
    assert 60 < dropped < 140  # 2% of 5,000
    assert line.due(0.02) == []  # nothing leaves before the delay
    released = line.due(100.0)
    assert released == sorted(released) and len(released) == 5000 - dropped


def test_the_delay_line_lets_reordered_packets_overtake():
    line = DelayLine(Impairment(50.0, 0.0, 0.0, 0.2), random.Random(2))
    for i in range(1000):
        line.admit(i, now=0.0)
    early = line.due(0.001)
    assert 150 < len(early) < 250  # they went at once; the rest wait 50 ms
    assert len(line.due(0.06)) == 1000 - len(early)


def test_seeds_are_parsed_and_bad_ones_named():
    assert parse_seeds("1-4,10") == [1, 2, 3, 4, 10]
    with pytest.raises(RefusedRun, match="--seeds 'a-b'"):
        parse_seeds("a-b")


def test_labels_follow_the_attacking_host_and_the_spoofed_range():
    at = datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC)
    ns = int(at.timestamp() * 1e9)
    windows = [AttackWindow("DoS Syn Flood", ns - 10**9, ns + 10**9, "10.203.0.67")]

    def row(src: str, dst: str, when=at) -> dict:
        return {"src_ip": src, "dst_ip": dst, "start": when}

    assert _label(row("10.203.0.67", "10.203.0.10"), windows) == "DoS Syn Flood"
    assert _label(row("10.203.0.10", "198.19.4.4"), windows) == "DoS Syn Flood"  # backscatter
    assert _label(row("10.203.0.66", "10.203.0.10"), windows) == BENIGN  # the other attacker
    assert _label(row("10.203.0.20", "10.203.0.10"), windows) == BENIGN
    later = datetime(2026, 12, 1, 12, 0, 9, tzinfo=UTC)
    assert _label(row("10.203.0.67", "10.203.0.10", later), windows) == BENIGN


def test_summary_counts_flows_conditions_and_time_of_complete_runs(tmp_path):
    for seed in (1, 2):
        world = draw_world("wide", seed)
        step = {"name": "portscan", "flows": {"BENIGN": 10 * seed, "PortScan": 100},
                "attacks": [{"scenario": "masscan"}], "ended": 1000.0 + seed}
        run = tmp_path / f"seed{seed}"
        run.mkdir()
        (run / "manifest.json").write_text(json.dumps({
            "complete": True, "started": 900.0, "steps": [step], "conditions": world.record()}))
    (tmp_path / "seed3").mkdir()
    assert not is_complete(tmp_path / "seed3")
    summary = summarise([tmp_path / "seed1", tmp_path / "seed2"])
    assert summary["flows"] == {"PortScan": 200, "BENIGN": 30}
    assert summary["seconds_total"] == 203
    hosts = len(draw_world("wide", 1).hosts) + len(draw_world("wide", 2).hosts)
    assert sum(summary["stack_families"].values()) == hosts
    assert summary["attack_variants"] == {"masscan": 2}
    table = summary_markdown(summary).splitlines()
    assert table[2:4] == ["| PortScan | 200 |", "| BENIGN | 30 |"]
    assert table[-1] == "| *time* | 2 runs, 101 to 102 s each, 0.1 h in all |"


def test_condition_diversity_ignores_payload_and_counts_ttl_window_and_timing():
    tokenizer = TrafficTokenizer()
    vocab = tokenizer.vocab
    ttl, byte, win = vocab["ttl"].base, vocab["byte"].base, vocab["tcp_window"].base
    flows = np.array([[ttl, win + 3, byte + 1], [ttl, win + 3, byte + 2],  # payload only
                      [ttl + 1, win + 3, byte + 1], [ttl, win + 4, byte + 1]])
    assert _distinct_conditions(tokenizer, flows) == 3
    assert len(np.unique(flows, axis=0)) == 4


def _budget(seed: int) -> Budget:
    return Budget(random.Random(seed), 10.0, "", {"http": "10.203.0.10", "ssh": "10.203.0.11"},
                  ("/",))


def test_the_monitoring_site_scenario_runs_only_when_named_and_checks_every_tcp_port():
    assert "service_checks" not in {s.name for s in plan_run("wide", 1, None).benign}
    assert [s.name for s in plan_run("wide", 1, ["service_checks"]).benign] == [
        "service_checks"]
    targets = {"http": "10.203.0.10", "ssh": "10.203.0.11", "redis": "10.203.0.11",
               "ntp": "10.203.0.10"}  # NTP is UDP: no check
    budget = Budget(random.Random(3), 120.0, "", targets, ("/",))
    commands = service_checks(budget)
    rounds = [c for c in commands if c[0] == "sleep"]
    interval = float(rounds[0][1])
    assert len(rounds) == int(120 / interval)  # bounded by the step's time
    checked = {c[-1] for c in commands if c[0] != "sleep"}
    assert checked == {"http://10.203.0.10/", "https://10.203.0.10/",
                       "exec 3<>/dev/tcp/10.203.0.11/22", "exec 3<>/dev/tcp/10.203.0.11/6379"}


def test_the_inventory_sweep_scans_the_same_ports_of_every_server_on_a_bounded_beat():
    targets = {"http": "10.203.0.10", "ssh": "10.203.0.11", "redis": "10.203.0.11"}
    commands = inventory_sweep(Budget(random.Random(5), 600.0, "", targets, ("/",)))
    scans = [c for c in commands if c[0] == "nmap"]
    interval = float(next(c for c in commands if c[0] == "sleep")[1])
    assert len(scans) == int(600 / interval)
    assert {tuple(c) for c in scans} == {tuple(scans[0])}  # the same sweep every time
    assert scans[0][-2:] == ["10.203.0.10", "10.203.0.11"]  # every server once
    assert scans[0][scans[0].index("-p") + 1] == INVENTORY_PORTS
    assert "inventory_sweep" not in {s.name for s in plan_run("wide", 1, None).benign}


def test_the_ssh_checks_log_in_every_half_minute_with_the_site_credentials():
    commands = ssh_checks(_budget(2))
    logins = [c for c in commands if c[0] == "sshpass"]
    assert len(logins) == 1 and commands[-1] == ["sleep", "30"]  # 10 s: one check
    assert logins[0][-2].endswith("@10.203.0.11")
    assert len([c for c in ssh_checks(Budget(random.Random(2), 300.0, "", {"ssh": "x"}, ("/",)))
                if c[0] == "sshpass"]) == 10


def test_a_sweep_tries_one_port_on_a_dark_slash_24_of_the_spoofed_range():
    drawn = set()
    for seed in range(40):
        (command,) = nmap_sweep(_budget(seed))
        net = ipaddress.ip_network(command[-1])
        assert net.prefixlen == 24 and net.subnet_of(ipaddress.ip_network(SPOOF_RANGE))
        port = command[command.index("-p") + 1]
        assert port.isdigit()  # one port, many hosts: the shape the other scans lack
        drawn.add((str(net), port))
    assert len(drawn) > 30


@pytest.mark.parametrize(("slot", "variant", "sent"), [
    ("syn_flood", "many_source_syn", "TCP S"), ("udp_flood", "many_source_udp", "UDP"),
    ("icmp_flood", "many_source_icmp", "ICMP 8")])
def test_a_many_source_flood_is_bounded_and_forges_only_the_spoofed_range(tmp_path, slot,
                                                                         variant, sent):
    (flood,) = [v for v in ATTACK_SLOTS[slot] if v.name == variant]
    (command,) = flood.build(_budget(3))
    target, _, count, seconds, pool, _, spoofed, kind, size = command[3:12]
    assert target == "10.203.0.10" and spoofed == SPOOF_RANGE
    assert float(seconds) <= 10 and int(count) <= 8000 * 10 and int(pool) in (0, 200, 2000)
    if os.geteuid() != 0 or shutil.which("tcpdump") is None:
        pytest.skip("sending it needs root (a namespace of its own) and tcpdump")
    frames = _flood_in_a_bare_namespace(tmp_path, [*command[:5], "600", "1", "0", "7",
                                                   SPOOF_RANGE, kind, size])
    sources = {ipaddress.ip_address(src) for src, _ in frames}
    assert len(frames) == 600 and len(sources) > 590  # a new forged source for every packet
    assert all(s in ipaddress.ip_network(SPOOF_RANGE) for s in sources)
    assert {what for _, what in frames} == {sent}


def _flood_in_a_bare_namespace(tmp_path, command: list[str]) -> list[tuple[str, str]]:
    """Run the flood in a namespace with only loopback (nothing can leave it) and read back
    (source, what it was: "TCP <flags>", "UDP", "ICMP <type>") of what reached the target
    (the target's own replies left out)."""
    capture = tmp_path / "flood.pcap"
    with _bare_namespace("flood", "10.203.0.10") as inside:
        sniffer = subprocess.Popen([*inside, "tcpdump", "-i", "lo", "-n", "-U", "-w",
                                    str(capture)], stderr=subprocess.PIPE)
        sniffer.stderr.readline()  # "listening on lo ...", a moment before it captures
        time.sleep(0.5)
        subprocess.run([*inside, *command], check=True, timeout=30)
        time.sleep(0.5)
        sniffer.send_signal(signal.SIGINT)
        sniffer.wait(timeout=10)
    with PcapReader(str(capture)) as packets:
        return [(p[IP].src, _what(p)) for p in packets
                if IP in p and p[IP].dst == "10.203.0.10"]


def _what(packet) -> str:
    if TCP in packet:
        return f"TCP {packet[TCP].flags}"
    return f"ICMP {packet[ICMP].type}" if ICMP in packet else "UDP" if UDP in packet else "?"


@contextlib.contextmanager
def _bare_namespace(purpose: str, address: str):
    """A network namespace with only loopback, ``address`` on it; yields the command prefix
    that runs a program inside. Nothing sent in it can leave it."""
    namespace = f"tlmtest-{purpose}-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", namespace], check=True)
    try:
        inside = ["ip", "netns", "exec", namespace]
        subprocess.run([*inside, "ip", "link", "set", "lo", "up"], check=True)
        subprocess.run([*inside, "ip", "addr", "add", f"{address}/32", "dev", "lo"], check=True)
        yield inside
    finally:
        subprocess.run(["ip", "netns", "del", namespace], check=False)


@pytest.mark.parametrize("program", ["dnsmasq", "unbound", "bind9"])
def test_every_resolver_answers_the_public_names_and_denies_the_missing_ones(tmp_path, program):
    """The benign public lookups are answered by whichever DNS server a seed draws: a record
    for every name the scenario asks for, NXDOMAIN for the names that do not exist."""
    server = SERVER_PROGRAMS[program]
    if os.geteuid() != 0 or not all(shutil.which(t) for t in (*server.tools, "dig")):
        pytest.skip(f"needs root (a namespace of its own) and {server.tools[0]}")
    address = "10.203.0.53"
    context = ServerContext(tmp_path, address, f"{address}/32", (30000, 30010), LoginPolicy())
    with _bare_namespace("dns", address) as inside:
        daemon = subprocess.Popen([*inside, *server.command(context)], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        try:
            answers = _ask_until_answered(inside, address, public_names.questions())
        finally:
            daemon.terminate()
            daemon.wait(timeout=10)
    for (name, kind), (status, records) in answers.items():
        if name in public_names.MISSING_NAMES:
            assert (status, records) == ("NXDOMAIN", 0), (name, kind)
        else:
            assert status == "NOERROR" and records > 0, (name, kind, status)


def _ask_until_answered(inside: list[str], server: str,
                        questions: list[tuple[str, str]]) -> dict:
    """(name, type) -> (status, answer records), once the server answers every question from
    a loaded zone (it may need seconds to load them, and fails or refuses until then)."""
    deadline = time.monotonic() + 20
    while True:
        output = subprocess.run(
            [*inside, "dig", "+time=1", "+tries=1", f"@{server}",
             *(part for question in questions for part in question)],
            capture_output=True, text=True, timeout=120).stdout
        replies = output.split(";; ->>HEADER<<-")[1:]
        loading = any("SERVFAIL" in r or "REFUSED" in r for r in replies)
        if (len(replies) == len(questions) and not loading) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert len(replies) == len(questions), output[-2000:]
    return {question: (reply.split("status: ")[1].split(",")[0],
                       int(reply.split("ANSWER: ")[1].split(",")[0]))
            for question, reply in zip(questions, replies, strict=True)}


def _serve_and_run(tmp_path, program: str, purpose: str, scenario, service: str,
                   wordlist: str = "", record: Path | None = None) -> list:
    """Start ``program`` in a bare namespace, run ``scenario``'s commands (no pauses) from
    a second address there, and return each command's completed process; with ``record``,
    tcpdump writes what crossed the namespace's loopback there."""
    server = SERVER_PROGRAMS[program]
    if os.geteuid() != 0 or not all(shutil.which(t) for t in server.tools):
        pytest.skip(f"needs root (a namespace of its own) and {server.tools[0]}")
    address, client = "10.203.0.88", "10.203.0.89"
    context = ServerContext(tmp_path, address, f"{address}/32", (30000, 30010), LoginPolicy())
    budget = Budget(random.Random(7), 12.0, wordlist, {service: address}, ("/",), own=client)
    commands = [c for c in scenario(budget) if c[0] != "sleep"]
    with _bare_namespace(purpose, address) as inside:
        subprocess.run([*inside, "ip", "addr", "add", f"{client}/32", "dev", "lo"], check=True)
        recorder = [["tcpdump", "-i", "lo", "-U", "-w", str(record)]] if record else []
        with _running(inside, [*recorder, server.command(context)], tmp_path):
            time.sleep(1)  # both bind at once; a second is ample
            results = [subprocess.run([*inside, *command], cwd=tmp_path, capture_output=True,
                                      text=True, timeout=60) for command in commands]
            if record:
                time.sleep(1)  # tcpdump reads the last packets the kernel queued before it stops
            return results


@contextlib.contextmanager
def _running(inside: list[str], commands: list[list[str]], cwd: Path):
    """``commands`` started inside a namespace, stopped (last first) when the block ends."""
    started = [subprocess.Popen([*inside, *command], cwd=cwd, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL) for command in commands]
    try:
        yield started
    finally:
        for process in reversed(started):
            process.terminate()
            process.wait(timeout=10)


@pytest.mark.parametrize("program", ["nginx", "apache2", "lighttpd"])
def test_every_web_server_hands_each_drawn_search_page_to_the_web_app(program):
    """The search page is drawn per run among deep and shallow places with several
    parameter names; behind whichever HTTP server a seed draws, each one reaches the
    injectable search, and the static site stays the server's own."""
    server = SERVER_PROGRAMS[program]
    if os.geteuid() != 0 or not all(shutil.which(t) for t in (*server.tools, "curl", "openssl")):
        pytest.skip(f"needs root (a namespace of its own) and {server.tools[0]}")
    address = "10.203.0.80"
    with tempfile.TemporaryDirectory(prefix="tlmtest-web-") as work:
        _search_pages_answer(Path(work), address, server)


def _search_pages_answer(work: Path, address: str, server) -> None:
    """Serve a one-page site and the web app with ``server`` in a bare namespace and ask it
    for every search page; ``work`` is made readable to the servers' own users."""
    work.chmod(0o755)
    (work / "www").mkdir()
    (work / "www" / "index.html").write_text("<html>home</html>", encoding="utf-8")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=www.testbed.lan", "-keyout", str(work / "key.pem"),
                    "-out", str(work / "cert.pem")], check=True, capture_output=True)
    context = ServerContext(work, address, f"{address}/32", (30000, 30010), LoginPolicy())
    webapp = [sys.executable, "-m", "trafficlm.training.testbed.webapp", str(WEBAPP_PORT)]
    with _bare_namespace("web", address) as inside, \
            _running(inside, [webapp, server.command(context)], work):
        time.sleep(1.5)

        def get(path: str) -> str:
            return subprocess.run([*inside, "curl", "-s", "--max-time", "5",
                                   f"http://{address}{path}"], capture_output=True,
                                  text=True, timeout=30).stdout

        for page in SEARCH_PAGES:
            for param in SEARCH_PARAMS:
                assert "Results for rout" in get(f"{page}?{param}=rout"), (page, param)
        assert "<li>router: 49</li>" in get(f"{SEARCH_PAGES[-1]}?id=rout")
        assert "Sign in" in get("/login") and get("/index.html") == "<html>home</html>"


def test_the_kdc_issues_tickets_to_the_logins_and_refuses_their_typos(tmp_path):
    """The benign Kerberos logins are real: every kinit with the password gets a ticket and
    every service ticket asked for is issued; a mistyped password is refused."""
    results = _serve_and_run(tmp_path, "krb5kdc", "krb", kerberos_logins, "kerberos")
    logins = results[1:]  # the first writes the client's krb5.conf
    assert len(logins) >= 4
    for login in logins:
        script = login.args[-1]
        assert login.stdout.count("kvno = 1") == script.count(" kvno "), login.stdout
        assert login.stderr.count("Password incorrect") == script.count("echo typo"), login.stderr
        assert "krbtgt/TESTBED.LAN@TESTBED.LAN" in login.stdout


def test_sipp_calls_are_answered_by_the_sip_server(tmp_path):
    """Every call the benign SIP scenario places is answered and hung up (SIPp exits 0 only
    when all its calls succeeded)."""
    calls = _serve_and_run(tmp_path, "sipp", "sip", sip_calls, "sip")
    assert calls and all(c.returncode == 0 for c in calls), [c.stdout[-500:] for c in calls]


def test_the_script_guesser_makes_one_guess_a_connection_and_quits_after_each(tmp_path):
    """Zeek's FTP bruteforce trace: one PASS a connection, the client's QUIT after each 530."""
    if not shutil.which("tcpdump"):
        pytest.skip("needs tcpdump")
    wordlist = tmp_path / "words.txt"
    wordlist.write_text("alpha\nbravo\ncharlie\n", encoding="utf-8")
    record = tmp_path / "ftp.pcap"
    for directory in ("ftp", "empty"):  # what the servers' preparation makes for vsftpd
        (tmp_path / directory).mkdir()
    guesser = ATTACK_SLOTS["ftp_bruteforce"][-1]
    _serve_and_run(tmp_path, "vsftpd", "ftp", guesser.build, "ftp", str(wordlist), record)
    commands: dict[int, list[bytes]] = {}
    for packet in PcapReader(str(record)):
        if TCP in packet and packet[TCP].dport == 21 and bytes(packet[TCP].payload):
            commands.setdefault(packet[TCP].sport, []).append(bytes(packet[TCP].payload)[:4])
    assert len(commands) >= 2, commands  # the pause drawn may leave time for fewer than 3
    for sent in commands.values():
        assert sent == [b"USER", b"PASS", b"QUIT"], sent


def test_unanswered_lookups_go_to_a_blackholed_resolver_and_broadcasts():
    """The gone resolver is in the spoofed range (the switch drops it: never answered, never
    leaves), the live resolver is asked the same names, NetBIOS broadcasts stay on the subnet."""
    commands = [c for seed in range(20) for c in unanswered_lookups(_budget_dns(seed))]
    asked = {ipaddress.ip_address(a.lstrip("@")) for c in commands if c[0] != "nmblookup"
             for a in c if _is_address(a.lstrip("@"))}
    gone = asked - {ipaddress.ip_address("10.203.0.53")}
    assert gone and len(asked) == len(gone) + 1
    assert all(a in ipaddress.ip_network(SPOOF_RANGE) for a in gone)
    assert {c[0] for c in commands} >= {"python3", "dig", "nslookup", "nmblookup"}
    assert all(c[c.index("-B") + 1] == "10.203.0.255" for c in commands if c[0] == "nmblookup")


def _is_address(text: str) -> bool:
    with contextlib.suppress(ValueError):
        return bool(ipaddress.ip_address(text))
    return False


def _budget_dns(seed: int) -> Budget:
    return Budget(random.Random(seed), 12.0, "", {"dns": "10.203.0.53"}, ("/",))


def test_injections_by_hand_are_a_few_form_encoded_requests_beside_sqlmap():
    """Captures of a person attacking a form hold one to six requests, spaces sent as '+':
    the hand variants draw that, sqlmap stays the slot's other variant."""
    assert [v.name for v in ATTACK_SLOTS["sql_injection"]] == ["sqlmap", "curl_sqli"]
    by_hand = {v.name: v.build for v in ATTACK_SLOTS["sql_injection"] +
               ATTACK_SLOTS["path_traversal"]}
    for seed in range(30):
        requests = [c[-1] for c in by_hand["curl_sqli"](_budget(seed)) if c[0] == "curl"]
        assert 1 <= len(requests) <= 6
        assert all(r.startswith(f"http://10.203.0.10{SEARCH_PAGES[0]}?q=") and " " not in r
                   and r.endswith("&Submit=Submit") for r in requests)
        traversals = [c for c in by_hand["hand_traversal"](_budget(seed)) if c[0] == "curl"]
        assert 1 <= len(traversals) <= 4 and all("--path-as-is" in c for c in traversals)
    payloads = {c[-1] for seed in range(30) for c in by_hand["curl_sqli"](_budget(seed))}
    assert any("+union+select+" in p.lower() for p in payloads)


def test_the_wide_site_draws_where_its_search_page_is_and_the_attacks_go_there():
    """No web attack is learnt as 'a request for /search?q=': each wide run draws the page
    and its parameter, the lab keeps its one, and the injections follow the draw."""
    assert plan_site("lab", 1).search == ("/search", "q")
    drawn = {plan_site("wide", seed).search for seed in range(60)}
    assert {page for page, _ in drawn} == set(SEARCH_PAGES)
    assert {param for _, param in drawn} == set(SEARCH_PARAMS)
    shop = Budget(random.Random(4), 12.0, "", {"http": "10.203.0.10"}, ("/",),
                  search=("/shop/index.php", "item"))
    builders = {v.name: v.build for slot in ("sql_injection", "xss", "command_injection")
                for v in ATTACK_SLOTS[slot]}
    sqlmap_url = builders["sqlmap"](shop)[0][2]
    assert sqlmap_url == "http://10.203.0.10/shop/index.php?item=router"
    for name in ("curl_sqli", "curl_xss", "curl_injection"):
        urls = [c[-1] for c in builders[name](shop) if c[0] == "curl"]
        assert urls and all(u.startswith("http://10.203.0.10/shop/index.php") for u in urls)


def test_udp_and_icmp_floods_draw_ports_sizes_and_icmp_types_and_stay_bounded():
    """Floods recorded elsewhere hit port 0 with empty datagrams, or services with full-size
    ones, and BlackNurse sends destination-unreachable; the draws cover them, each bounded."""
    udp, icmp = (ATTACK_SLOTS[slot][0].build for slot in ("udp_flood", "icmp_flood"))
    udp_runs = [command for seed in range(60) for command in udp(_budget(seed))]
    icmp_runs = [command for seed in range(60) for command in icmp(_budget(seed))]
    for command in udp_runs + icmp_runs:
        assert command[0] == "hping3" and 0 < int(command[command.index("-c") + 1]) <= 40_000
    sizes = {c[c.index("-d") + 1] if "-d" in c else "0" for c in udp_runs + icmp_runs}
    assert sizes == {"0", "32", "512", "1400"}
    assert any("-p" not in c for c in udp_runs) and any("-p" in c for c in udp_runs)
    kinds = {" ".join(c[c.index("-C"):c.index("-C") + (4 if "-K" in c else 2)])
             if "-C" in c else "echo" for c in icmp_runs}
    assert kinds == {"echo", "-C 13", "-C 3 -K 3"}

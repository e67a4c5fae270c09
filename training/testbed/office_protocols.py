"""Benign traffic of an office network's infrastructure: Kerberos logins, SIP calls, and the
lookups nobody answers (a resolver that is gone, NetBIOS name broadcasts).

Real captures hold all three, and a model that has never seen them calls them attacks:
Zeek's kinit trace (43 AS-REQs over UDP 88) was called a DNS tunnel, and a SIP phone's
capture, whose Windows host retries unanswered DNS queries from one port and broadcasts
NetBIOS name queries, a UDP scan. Each builder draws its tools' settings from the step's
generator, as the wide profile's other scenarios do.
"""

from __future__ import annotations

import ipaddress
import shlex

from trafficlm.training.testbed.scenarios import Budget, Commands, _think
from trafficlm.training.testbed.server_programs import (
    KERBEROS_REALM,
    KERBEROS_SERVICES,
    LOGIN_PASSWORD,
    LOGIN_USER,
)
from trafficlm.training.testbed.world import SPOOF_RANGE, SUBNET

KINIT_OPTIONS = ("", "", "-f", "-l 8h", "-r 7d", "-f -l 1h")
SIP_CALL_MILLISECONDS = (500, 2000, 5000, 12000)
LOOKUP_NAMES = ("wpad.testbed.lan", "fileserver.testbed.lan", "time.windows.com",
                "update.example.com", "printer.testbed.lan", "mail.testbed.lan")
NETBIOS_NAMES = ("FILES", "PRINTER01", "WPAD", "WORKGROUP", "DC1")


def _shell(*steps: str) -> list[str]:
    return ["sh", "-c", "; ".join(steps)]


def _client_krb5_conf(b: Budget, path: str) -> list[str]:
    """The workstation's krb5.conf, written where commands run; UDP, or TCP only when
    udp_preference_limit is 1 (as sites with large tickets set it)."""
    lines = ("[libdefaults]", f" default_realm = {KERBEROS_REALM}", " dns_lookup_kdc = false",
             f" udp_preference_limit = {b.rng.choice(('1465', '1465', '1'))}", "[realms]",
             f" {KERBEROS_REALM} = {{", f"  kdc = {b.at('kerberos')}", " }")
    return _shell(f"printf '%s\\n' {' '.join(shlex.quote(line) for line in lines)} > {path}")


def kerberos_logins(b: Budget) -> Commands:
    """Users logging in to the realm: kinit (now and then after a mistyped password),
    service tickets with kvno, klist, kdestroy, with kinit's options drawn."""
    conf = f"krb5-{b.rng.randrange(1 << 30)}.conf"
    commands = [_client_krb5_conf(b, conf)]
    for i in range(max(2, int(b.seconds / 3))):
        env = f"KRB5_CONFIG={conf} KRB5CCNAME=FILE:krb5cc-{i}"
        kinit = f"{env} timeout 10 kinit {b.rng.choice(KINIT_OPTIONS)} {LOGIN_USER}"
        steps = [f"echo typo{i} | {kinit}"] if b.rng.random() < 0.15 else []
        steps.append(f"echo {shlex.quote(LOGIN_PASSWORD)} | {kinit}")
        steps += [f"{env} timeout 10 kvno {service}"
                  for service in b.rng.sample(KERBEROS_SERVICES, b.rng.randint(0, 3))]
        steps += [f"{env} klist", f"{env} kdestroy"]
        commands += [_shell(*steps), _think(b, 0.5, 3.0)]
    return commands


def sip_calls(b: Budget) -> Commands:
    """Phone calls with SIPp's user agent client (INVITE, ringing, answer, ACK, BYE): calls
    per burst, their rate and length, and the phone's port (5060 as phones use, or any)."""
    commands = []
    for _ in range(max(1, int(b.seconds / 6))):
        port = b.rng.choice((5060, b.rng.randrange(5061, 5200)))
        commands += [["sipp", "-sn", "uac", f"{b.at('sip')}:5060", "-i", b.own, "-p", str(port),
                      "-m", str(b.rng.randint(1, 4)), "-r", str(b.rng.choice((1, 2))),
                      "-d", str(b.rng.choice(SIP_CALL_MILLISECONDS)), "-nostdin",
                      "-timeout", "30s"],
                     _think(b, 1.0, 4.0)]
    return commands


STUB_RESOLVER = """
import random, socket, struct, sys
server, names = sys.argv[1], sys.argv[2:]
rng = random.Random(" ".join(sys.argv))
for name in names:
    qname = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\\0"
    header = struct.pack(">HHHHHH", rng.randrange(65536), 0x0100, 1, 0, 0, 0)
    query = header + qname + b"\\0\\1\\0\\1"  # type A, class IN
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for wait in (1, 1, 2, 4, 2):  # the Windows resolver's retries, all from one port
            s.sendto(query, (server, 53))
            s.settimeout(wait)
            try:
                s.recv(512)
                break
            except OSError:
                pass
"""


def _gone_resolver(b: Budget) -> str:
    """An address of the spoofed range: routed to the switch's blackhole, so never answered."""
    network = ipaddress.ip_network(SPOOF_RANGE)
    return str(network[b.rng.randrange(1, network.num_addresses - 1)])


def unanswered_lookups(b: Budget) -> Commands:
    """A workstation whose secondary resolver is gone: queries retried and never answered,
    by a Windows-style stub (all retries from one port) or dig and nslookup (a port each),
    the same names answered by the live resolver, and NetBIOS name queries broadcast to the
    subnet that nobody answers."""
    gone = _gone_resolver(b)
    commands: Commands = []
    for _ in range(max(2, int(b.seconds / 4))):
        name = b.rng.choice(LOOKUP_NAMES)
        commands.append(b.rng.choice((
            ["python3", "-c", STUB_RESOLVER, gone, name],
            ["dig", f"+time={b.rng.choice((1, 2))}", f"+tries={b.rng.randint(2, 4)}",
             f"@{gone}", name, "A"],
            ["nslookup", "-timeout=1", f"-retry={b.rng.randint(1, 3)}", name, gone],
            ["nmblookup", "-s", "/dev/null", "-B", f"{SUBNET}.255",
             b.rng.choice(NETBIOS_NAMES)])))
        commands += [["dig", "+time=2", "+tries=1", f"@{b.at('dns')}", name, "A"],
                     _think(b, 0.5, 4.0)]
    return commands

"""The network a run builds: which hosts, their links and stacks, which program serves what.

``lab`` is the original small lab: one server, one client, one attacker, no
impairment, one program per service. ``wide`` draws everything from the seed:
two to four clients, two attackers and two servers, each with its own link
and stack (``conditions``), and one program per service out of several. The
world is drawn before anything starts, so a run's ``manifest.json`` can say
what it was, and two seeds can be compared without running either.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field

from trafficlm.training.testbed.conditions import (
    LAB_LINK,
    LAB_STACK,
    LinkConditions,
    StackProfile,
    allowed_congestion_controls,
    conditions_record,
    draw_link,
    draw_stack,
)

SUBNET = "10.203.0"  # a /24 that exists only inside the testbed
GATEWAY = f"{SUBNET}.1"  # the switch's own address: where spoofed ranges are routed
SPOOF_RANGE = "198.18.0.0/15"  # RFC 2544 benchmarking range, routed into the switch and dropped
PROFILES = ("lab", "wide")
LAB_HOSTS = {"server": 10, "client": 20, "attacker": 66}
PROGRAMS = {  # service -> programs the wide profile chooses from (the first is the lab's)
    "http": ("nginx", "apache2", "lighttpd"),
    "ssh": ("openssh", "dropbear"),
    "ftp": ("vsftpd", "proftpd", "pure-ftpd"),
    "dns": ("dnsmasq", "unbound", "bind9"),
    "mqtt": ("mosquitto",),
    "iperf": ("iperf3",),
    "redis": ("redis",),
    "ntp": ("chrony",),
    "snmp": ("snmpd",),
    "icmp_proxy": ("ptunnel-ng",),
    "smtp": ("postfix",),
    "imap": ("dovecot",),
    "database": ("postgresql",),
    "smb": ("samba",),
    "kerberos": ("krb5kdc",),
    "sip": ("sipp",),
}
LAB_SERVICES = ("http", "ssh", "ftp", "dns", "mqtt", "iperf")


@dataclass(frozen=True)
class Host:
    name: str
    octet: int
    role: str  # "server", "client" or "attacker"
    link: LinkConditions
    stack: StackProfile

    @property
    def address(self) -> str:
        return f"{SUBNET}.{self.octet}"


@dataclass(frozen=True)
class Placement:
    program: str
    host: str


@dataclass(frozen=True)
class LoginPolicy:
    """How the servers treat failed logins: what decides guesses per connection and pace."""

    ssh_max_auth_tries: int = 1  # 1: one guess per connection
    ftp_delay_failed_login: int = 1  # seconds vsftpd waits after a failure
    ftp_max_login_fails: int = 1  # failures before vsftpd drops the connection
    mail_auth_failure_delay: int = 2  # seconds dovecot waits after a failure (its default)


LAB_POLICY = LoginPolicy()


@dataclass(frozen=True)
class World:
    profile: str
    seed: int
    hosts: tuple[Host, ...]
    services: dict[str, Placement] = field(default_factory=dict)
    ftp_passive: tuple[int, int] = (40000, 40100)
    logins: LoginPolicy = LAB_POLICY

    def host(self, name: str) -> Host:
        return next(h for h in self.hosts if h.name == name)

    def address(self, name: str) -> str:
        return self.host(name).address

    def of_role(self, role: str) -> list[Host]:
        return [h for h in self.hosts if h.role == role]

    def service_address(self, service: str) -> str:
        return self.address(self.services[service].host)

    @property
    def applies_conditions(self) -> bool:
        return self.profile != "lab"

    def record(self) -> dict:
        """The manifest's ``conditions``: every host's link and stack, every placement."""
        return {
            "profile": self.profile,
            "hosts": {h.name: {"address": h.address, "role": h.role,
                               **conditions_record(h.link, h.stack)} for h in self.hosts},
            "services": {s: {"program": p.program, "host": p.host, "address": self.address(p.host)}
                         for s, p in self.services.items()},
            "ftp_passive_ports": list(self.ftp_passive),
            "login_policy": asdict(self.logins),
            "spoofed_source_range": SPOOF_RANGE,
        }


def draw_world(profile: str, seed: int) -> World:
    if profile == "lab":
        return _lab_world(seed)
    if profile == "wide":
        return _wide_world(seed)
    raise ValueError(f"unknown testbed profile {profile!r}; known: {', '.join(PROFILES)}")


def _lab_world(seed: int) -> World:
    hosts = tuple(Host(name, octet, name, LAB_LINK, LAB_STACK)
                  for name, octet in LAB_HOSTS.items())
    services = {s: Placement(PROGRAMS[s][0], "server") for s in LAB_SERVICES}
    return World("lab", seed, hosts, services)


def _wide_world(seed: int) -> World:
    rng = random.Random(f"world/{seed}")
    congestion = allowed_congestion_controls()
    names = [("server", 10, "server"), ("server2", 11, "server")]
    names += [(f"client{i + 1}" if i else "client", 20 + i, "client")
              for i in range(rng.randint(2, 4))]
    names += [("attacker", 66, "attacker"), ("attacker2", 67, "attacker")]
    hosts = tuple(Host(name, octet, role, draw_link(rng), draw_stack(rng, congestion))
                  for name, octet, role in names)
    services = {"http": Placement(rng.choice(PROGRAMS["http"]), "server")}
    for service in PROGRAMS:
        if service != "http":
            services[service] = Placement(rng.choice(PROGRAMS[service]),
                                          rng.choice(("server", "server2")))
    # the ICMP tunnel's proxy forwards only to its own host's SSH server; iodined
    # answers port 53 itself, so it lives on the server the DNS server is not on
    services["icmp_proxy"] = Placement("ptunnel-ng", services["ssh"].host)
    services["imap"] = Placement("dovecot", services["smtp"].host)  # reads postfix's spool
    services["dns_tunnel_server"] = Placement(
        "iodined", "server2" if services["dns"].host == "server" else "server")
    low = rng.randrange(20000, 60000, 100)
    logins = LoginPolicy(rng.choice((1, 3, 6)), rng.choice((0, 1)), rng.choice((1, 3)),
                         rng.choice((0, 2)))
    return World("wide", seed, hosts, services, (low, low + rng.choice((20, 50, 100))), logins)

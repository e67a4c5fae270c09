"""What a host's link and TCP/IP stack look like on the wire, drawn per run and applied.

A model trained on one zero-latency veth bridge learns that bridge: the TTL
every packet has, the window every SYN offers, round trips of 50 µs. The wide
profile draws, per host, a link (delay, jitter, loss, reordering, a rate
limit, the MTU) and a stack (initial TTL, timestamps, SACK, window scaling,
ECN, buffer sizes, congestion control) from families that look like Linux,
Windows, BSD or network gear, so that these properties vary while attacks do
not.

Delay, jitter, loss and reordering are applied by ``impairment`` (NFQUEUE in
user space: the kernel here has no netem); the rate limit by a ``tbf`` qdisc;
the rest by ``ip link`` and the namespace's own sysctls, which are per
network namespace.
"""

from __future__ import annotations

import random
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from trafficlm.training.testbed.shell import TestbedError, in_ns, run, start

NETWORK_KINDS = {  # (delay ms low, high): where the host sits, as a one-way delay
    "lan": (0.0, 0.0), "campus": (1.0, 5.0), "regional": (10.0, 40.0),
    "continental": (40.0, 90.0), "intercontinental": (90.0, 150.0),
}


@dataclass(frozen=True)
class LinkConditions:
    """One host's access link. Delays are one way, on the host's outgoing packets."""

    kind: str
    delay_ms: float
    jitter_ms: float
    loss: float  # probability per packet
    reorder: float  # probability a packet overtakes those held
    rate_mbit: float | None  # None: no rate limit
    mtu: int

    @property
    def impaired(self) -> bool:
        return self.delay_ms > 0 or self.jitter_ms > 0 or self.loss > 0 or self.reorder > 0


@dataclass(frozen=True)
class StackProfile:
    """The per-namespace sysctls that make a host's packets look like one OS family."""

    family: str
    ttl: int
    timestamps: bool
    sack: bool
    window_scaling: bool
    ecn: int  # 0 off, 1 request, 2 accept only (Linux default)
    rmem_default: int
    wmem_default: int
    congestion: str

    def sysctls(self) -> dict[str, str]:
        return {
            "net.ipv4.ip_default_ttl": str(self.ttl),
            "net.ipv4.tcp_timestamps": str(int(self.timestamps)),
            "net.ipv4.tcp_sack": str(int(self.sack)),
            "net.ipv4.tcp_window_scaling": str(int(self.window_scaling)),
            "net.ipv4.tcp_ecn": str(self.ecn),
            "net.ipv4.tcp_rmem": f"4096 {self.rmem_default} {max(self.rmem_default, 6291456)}",
            "net.ipv4.tcp_wmem": f"4096 {self.wmem_default} {max(self.wmem_default, 4194304)}",
            "net.ipv4.tcp_congestion_control": self.congestion,
        }


CONGESTION_CONTROLS = ("reno", "cubic", "bbr")
LAB_LINK = LinkConditions("lan", 0.0, 0.0, 0.0, 0.0, None, 1500)
LAB_STACK = StackProfile("linux", 64, True, True, True, 2, 131072, 16384, "bbr")


def draw_link(rng: random.Random) -> LinkConditions:
    kind = rng.choice(list(NETWORK_KINDS))
    low, high = NETWORK_KINDS[kind]
    delay = round(rng.uniform(low, high), 1)
    return LinkConditions(
        kind=kind, delay_ms=delay,
        jitter_ms=round(rng.uniform(0.0, max(0.3, delay * 0.1)), 1) if delay else 0.0,
        loss=round(rng.choice((0.0, 0.0, rng.uniform(0.0, 0.03))), 4),
        reorder=round(rng.choice((0.0, 0.0, 0.0, rng.uniform(0.0, 0.02))), 4) if delay else 0.0,
        rate_mbit=rng.choice((None, None, 10.0, 50.0, 100.0, 1000.0)),
        mtu=rng.choice((1500, 1500, 1500, 1492, 1480, 1400, 1360, 1280)),
    )


def draw_stack(rng: random.Random, allowed_congestion: tuple[str, ...]) -> StackProfile:
    """One of four OS families, with its buffer sizes and congestion control drawn.

    The congestion control is drawn from a fixed list, so the same seed draws the
    same world everywhere; where the kernel does not allow the drawn one in a
    namespace, the first allowed one is used (and recorded) instead."""
    family = rng.choice(("linux", "windows", "bsd", "network-gear"))
    congestion = rng.choice(CONGESTION_CONTROLS)
    if congestion not in allowed_congestion:
        congestion = allowed_congestion[0]
    if family == "linux":
        return StackProfile(family, 64, True, True, True, rng.choice((1, 2)),
                            rng.choice((87380, 131072)), 16384, congestion)
    if family == "windows":
        return StackProfile(family, 128, False, True, True, 0, rng.choice((65535, 262144)),
                            rng.choice((16384, 65536)), congestion)
    if family == "bsd":
        return StackProfile(family, 64, True, True, True, rng.choice((0, 1)),
                            rng.choice((65536, 131072)), 32768, congestion)
    return StackProfile(family, 255, False, False, False, 0, rng.choice((8192, 16384)),
                        8192, "reno" if "reno" in allowed_congestion else congestion)


def allowed_congestion_controls() -> tuple[str, ...]:
    path = Path("/proc/sys/net/ipv4/tcp_allowed_congestion_control")
    return tuple(path.read_text().split()) if path.exists() else ("reno",)


def conditions_record(link: LinkConditions, stack: StackProfile) -> dict:
    return {"link": asdict(link), "stack": asdict(stack)}


def apply_stack(namespace: str, stack: StackProfile) -> None:
    for key, value in stack.sysctls().items():
        run(in_ns(namespace, ["sysctl", "-q", "-w", f"{key}={value}"]))


def apply_link(namespace: str, link: LinkConditions, queue: int, seed: int, lifetime: float,
               log: Path) -> None:
    """MTU, rate limit and (through an impairment process) delay, jitter, loss, reorder."""
    run(in_ns(namespace, ["ip", "link", "set", "dev", "eth0", "mtu", str(link.mtu)]))
    if link.rate_mbit:
        run(in_ns(namespace, ["tc", "qdisc", "add", "dev", "eth0", "root", "tbf", "rate",
                              f"{link.rate_mbit:g}mbit", "burst", "64kb", "latency", "100ms"]))
    if not link.impaired:
        return
    process = start(in_ns(namespace, [
        sys.executable, "-m", "trafficlm.training.testbed.impairment", "--queue", str(queue),
        "--delay-ms", str(link.delay_ms), "--jitter-ms", str(link.jitter_ms),
        "--loss", str(link.loss), "--reorder", str(link.reorder), "--seed", str(seed),
        "--lifetime", f"{lifetime:.0f}"]), log)
    deadline = time.monotonic() + 10
    while "bound" not in log.read_text(encoding="utf-8", errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            raise TestbedError(f"the link impairment for {namespace} did not start (see {log})")
        time.sleep(0.05)
    run(in_ns(namespace, ["iptables", "-w", "-A", "OUTPUT", "-o", "eth0", "-j", "NFQUEUE",
                          "--queue-num", str(queue), "--queue-bypass"]))

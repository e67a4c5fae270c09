"""The testbed's network: one switch namespace with a bridge, a namespace per host.

Everything lives in namespaces this module creates, with names unique to the
run; nothing is attached to the host's interfaces, and there is no default
route, so no packet can leave. In the wide profile each host also gets its
drawn link and stack, and a route for the spoofed-source range to the
switch, which holds that range as a blackhole: replies to spoofed sources
cross the bridge (and the capture) and end there. An attacker's namespace
drops anything it would send from an address outside the subnet and that
range, so a tool's "random source" cannot put any other address on the wire.
``Topology`` is a context manager: it tears everything down on exit, on
error, and (through the runner's signal handlers) on SIGINT/SIGTERM.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from trafficlm.training.testbed.conditions import apply_link, apply_stack
from trafficlm.training.testbed.shell import TestbedError, in_ns, run
from trafficlm.training.testbed.world import GATEWAY, SPOOF_RANGE, SUBNET, Host, World

NAMESPACE_PREFIX = "tlmtb-"
EGRESS_CHAIN = "tlmtb-egress"
FIREWALLED_PORTS = "3000:3999"

def existing_namespaces() -> set[str]:
    listing = run(["ip", "netns", "list"]).stdout
    return {line.split()[0] for line in listing.splitlines() if line.strip()}


@dataclass
class Topology:
    """Creates the namespaces on enter, removes them (and their processes) on exit."""

    world: World
    logs: Path
    lifetime: float = 3600.0  # how long the impairment processes live
    run_id: str = field(default_factory=lambda: secrets.token_hex(3))
    created: list[str] = field(default_factory=list)

    def ns(self, host: str) -> str:
        return f"{NAMESPACE_PREFIX}{self.run_id}-{host}"

    @property
    def switch(self) -> str:
        return self.ns("sw")

    def __enter__(self) -> Topology:
        check_can_run()
        wanted = [self.switch, *(self.ns(h.name) for h in self.world.hosts)]
        clash = existing_namespaces() & set(wanted)
        if clash:
            raise TestbedError(f"network namespace {sorted(clash)[0]} already exists; "
                               "refusing to touch it")
        try:
            self._build()
        except BaseException:
            self.teardown()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.teardown()

    def _build(self) -> None:
        for namespace in (self.switch, *(self.ns(h.name) for h in self.world.hosts)):
            run(["ip", "netns", "add", namespace])
            self.created.append(namespace)
            run(in_ns(namespace, ["ip", "link", "set", "lo", "up"]))
        run(in_ns(self.switch, ["ip", "link", "add", "br0", "type", "bridge"]))
        run(in_ns(self.switch, ["ip", "link", "set", "br0", "up"]))
        if self.world.applies_conditions:
            run(in_ns(self.switch, ["ip", "addr", "add", f"{GATEWAY}/24", "dev", "br0"]))
            run(in_ns(self.switch, ["ip", "route", "add", "blackhole", SPOOF_RANGE]))
        for queue, host in enumerate(self.world.hosts):
            self._attach(host.name, host.address)
            if self.world.applies_conditions:
                self._condition(host, queue)
        self._wait_for_links()

    def _attach(self, host: str, address: str) -> None:
        port = f"p-{host}"
        run(in_ns(self.switch, ["ip", "link", "add", port, "type", "veth", "peer", "name",
                                "eth0", "netns", self.ns(host)]))
        run(in_ns(self.switch, ["ip", "link", "set", port, "master", "br0", "up"]))
        run(in_ns(self.ns(host), ["ip", "addr", "add", f"{address}/24", "dev", "eth0"]))
        run(in_ns(self.ns(host), ["ip", "link", "set", "eth0", "up"]))
        # offloads off, or captures hold frames above the MTU and bad checksums
        for namespace, device in ((self.switch, port), (self.ns(host), "eth0")):
            run(in_ns(namespace, ["ethtool", "-K", device, "tso", "off", "gso", "off",
                                  "gro", "off", "tx", "off", "rx", "off"]), check=False)

    def _condition(self, host: Host, queue: int) -> None:
        """The host's stack and link, its route for spoofed ranges, an attacker's egress rule."""
        namespace = self.ns(host.name)
        apply_stack(namespace, host.stack)
        run(in_ns(namespace, ["ip", "route", "add", SPOOF_RANGE, "via", GATEWAY]))
        if host.role == "attacker":
            self._egress_filter(namespace)
        if host.role == "server":  # a firewalled range: scans of it see "filtered"
            run(in_ns(namespace, ["iptables", "-w", "-A", "INPUT", "-p", "tcp", "--dport",
                                  FIREWALLED_PORTS, "-j", "DROP"]))
        apply_link(namespace, host.link, queue, self.world.seed * 100 + queue, self.lifetime,
                   self.logs / f"impairment-{host.name}.log")

    def _egress_filter(self, namespace: str) -> None:
        """Only the subnet's and the spoofed range's sources may leave an attacker."""
        rules = [["-N", EGRESS_CHAIN], ["-A", "OUTPUT", "-o", "eth0", "-j", EGRESS_CHAIN]]
        rules += [["-A", EGRESS_CHAIN, "-s", source, "-j", "RETURN"]
                  for source in (f"{SUBNET}.0/24", SPOOF_RANGE)]
        rules.append(["-A", EGRESS_CHAIN, "-j", "DROP"])
        for rule in rules:
            run(in_ns(namespace, ["iptables", "-w", *rule]))

    def macs(self) -> dict[str, str]:
        """Each host's address -> the MAC of its eth0 (tools that send raw frames need it)."""
        macs = {}
        for host in self.world.hosts:
            shown = run(in_ns(self.ns(host.name), ["ip", "-j", "link", "show", "eth0"])).stdout
            macs[host.address] = json.loads(shown)[0]["address"]
        return macs

    def foreign_source_drops(self) -> dict[str, int]:
        """Packets each attacker's egress rule dropped (a source outside what it may use)."""
        drops = {}
        for host in self.world.of_role("attacker"):
            listing = run(in_ns(self.ns(host.name), ["iptables", "-w", "-L", EGRESS_CHAIN,
                                                     "-v", "-x", "-n"]), check=False).stdout
            rows = [line.split() for line in listing.splitlines() if " DROP " in f" {line} "]
            drops[host.name] = sum(int(row[0]) for row in rows if row and row[0].isdigit())
        return drops

    def _wait_for_links(self, seconds: float = 5.0) -> None:
        """Bridge ports take a moment to forward; ping until the server answers."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            probe = run(in_ns(self.ns("client"), ["ping", "-c", "1", "-W", "1",
                                                  self.world.address("server")]), check=False)
            if probe.returncode == 0:
                return
            time.sleep(0.2)
        raise TestbedError("testbed links did not come up (ping client -> server failed)")

    def teardown(self) -> None:
        """Kill every process in our namespaces, then delete them (and their links)."""
        for namespace in reversed(self.created):
            pids = run(["ip", "netns", "pids", namespace], check=False).stdout.split()
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), signal.SIGKILL)
        for namespace in reversed(self.created):
            for _ in range(20):
                if run(["ip", "netns", "del", namespace], check=False).returncode == 0:
                    break
                time.sleep(0.1)
        self.created.clear()


def check_can_run() -> None:
    """Root and network-namespace support, or a one-line reason why not."""
    if os.geteuid() != 0:
        raise TestbedError("the testbed needs root (it creates network namespaces)")
    try:
        run(["ip", "netns", "list"])
    except TestbedError as err:
        raise TestbedError(f"no network namespace support: {err}") from None
    try:
        subprocess.run(["unshare", "--net", "true"], check=True, capture_output=True, timeout=10)
    except (subprocess.CalledProcessError, FileNotFoundError, subprocess.TimeoutExpired):
        raise TestbedError("no network namespace support: 'unshare --net' failed") from None

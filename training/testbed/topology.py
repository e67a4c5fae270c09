"""The testbed's network: one switch namespace with a bridge, a namespace per host.

Everything lives in namespaces this module creates, with names unique to the
run; nothing is attached to the host's interfaces, and there is no default
route, so no packet can leave. ``Topology`` is a context manager: it tears
everything down on exit, on error, and (through the runner's signal
handlers) on SIGINT/SIGTERM.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import time
from dataclasses import dataclass, field

from trafficlm.training.testbed.shell import TestbedError, in_ns, run

SUBNET = "10.203.0"  # a /24 that exists only inside the testbed
HOSTS = {"server": 10, "client": 20, "attacker": 66}
NAMESPACE_PREFIX = "tlmtb-"


def address(host: str) -> str:
    return f"{SUBNET}.{HOSTS[host]}"


def existing_namespaces() -> set[str]:
    listing = run(["ip", "netns", "list"]).stdout
    return {line.split()[0] for line in listing.splitlines() if line.strip()}


@dataclass
class Topology:
    """Creates the namespaces on enter, removes them (and their processes) on exit."""

    run_id: str = field(default_factory=lambda: secrets.token_hex(3))
    created: list[str] = field(default_factory=list)

    def ns(self, host: str) -> str:
        return f"{NAMESPACE_PREFIX}{self.run_id}-{host}"

    @property
    def switch(self) -> str:
        return self.ns("sw")

    def __enter__(self) -> Topology:
        check_can_run()
        wanted = [self.switch, *(self.ns(h) for h in HOSTS)]
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
        for namespace in (self.switch, *(self.ns(h) for h in HOSTS)):
            run(["ip", "netns", "add", namespace])
            self.created.append(namespace)
            run(in_ns(namespace, ["ip", "link", "set", "lo", "up"]))
        run(in_ns(self.switch, ["ip", "link", "add", "br0", "type", "bridge"]))
        run(in_ns(self.switch, ["ip", "link", "set", "br0", "up"]))
        for host, last_octet in HOSTS.items():
            port = f"p-{host}"
            run(in_ns(self.switch, ["ip", "link", "add", port, "type", "veth", "peer", "name",
                                    "eth0", "netns", self.ns(host)]))
            run(in_ns(self.switch, ["ip", "link", "set", port, "master", "br0", "up"]))
            run(in_ns(self.ns(host), ["ip", "addr", "add", f"{SUBNET}.{last_octet}/24",
                                      "dev", "eth0"]))
            run(in_ns(self.ns(host), ["ip", "link", "set", "eth0", "up"]))
            # offloads off, or captures hold frames above the MTU and bad checksums
            for namespace, device in ((self.switch, port), (self.ns(host), "eth0")):
                run(in_ns(namespace, ["ethtool", "-K", device, "tso", "off", "gso", "off",
                                      "gro", "off", "tx", "off", "rx", "off"]), check=False)
        self._wait_for_links()

    def _wait_for_links(self, seconds: float = 5.0) -> None:
        """Bridge ports take a moment to forward; ping until the server answers."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            probe = run(in_ns(self.ns("client"), ["ping", "-c", "1", "-W", "1", address("server")]),
                        check=False)
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

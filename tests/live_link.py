"""A private link for live tests: a veth pair inside a fresh network namespace.

Nothing in the namespace has an address or a route, so replayed frames reach
the sensor's end and go nowhere else. The sensor runs inside the namespace
as a real process; tcpreplay injects into the other end, bounded in packets
and time.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

SENSOR_END, REPLAY_END = "tlmsn-in", "tlmsn-tap"


class LiveLink:
    def __init__(self, name: str) -> None:
        self.ns = name
        _ip("netns", "add", name)
        _ip("link", "add", SENSOR_END, "netns", name, "type", "veth", "peer", "name",
            REPLAY_END, "netns", name)
        for device in (SENSOR_END, REPLAY_END):
            self.run("sysctl", "-q", "-w", f"net.ipv6.conf.{device}.disable_ipv6=1")
            _ip("-n", name, "link", "set", device, "up")
            self.run("ethtool", "-K", device, "tso", "off", "gso", "off", "gro", "off",
                     check=False)
        _ip("-n", name, "link", "set", "lo", "up")  # for the metrics endpoint

    def run(self, *command: str, check: bool = True, timeout: float = 120,
            **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run(["ip", "netns", "exec", self.ns, *command], check=check,
                              timeout=timeout, capture_output=True, text=True, **kwargs)

    def replay(self, capture: str, *options: str, timeout: float = 120) -> None:
        """Inject a capture into the sensor's link (at its own pace unless told otherwise)."""
        self.run("tcpreplay", "-q", "-i", REPLAY_END, *options, capture, timeout=timeout)

    def record(self, path: Path) -> subprocess.Popen:
        """tcpdump on the sensor's end, nanosecond timestamps: what the sensor saw, as a file.
        Stop it with SIGINT."""
        recorder = subprocess.Popen(
            ["ip", "netns", "exec", self.ns, "tcpdump", "-i", SENSOR_END, "-w", str(path),
             "-s", "0", "-U", "--time-stamp-precision=nano"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        assert "listening on" in recorder.stderr.readline()
        return recorder

    def start_sensor(self, tmp: Path, *extra: str, config: str = "") -> Sensor:
        return Sensor(self, tmp, extra, config)

    def close(self) -> None:
        _ip("netns", "del", self.ns)


class Sensor:
    """``trafficlm sensor`` on the link's sensor end, started and ready to capture."""

    def __init__(self, link: LiveLink, tmp: Path, extra: tuple[str, ...], config: str) -> None:
        self.eve = tmp / "eve.json"
        self.log = tmp / "sensor.log"
        command = [sys.executable, "-m", "trafficlm.cli", "sensor", "--iface", SENSOR_END,
                   "--eve", str(self.eve), "--metrics", "127.0.0.1:9781", *extra]
        if config:
            (tmp / "sensor.toml").write_text(config)
            command += ["--config", str(tmp / "sensor.toml")]
        with open(self.log, "w") as log:
            self.process = subprocess.Popen(["ip", "netns", "exec", link.ns, *command],
                                            stdout=log, stderr=subprocess.STDOUT)
        self._wait_for("capturing on", 60)

    def _wait_for(self, text: str, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if text in self.log.read_text():
                return
            if self.process.poll() is not None:
                raise AssertionError(f"sensor exited: {self.log.read_text()}")
            time.sleep(0.1)
        raise AssertionError(f"sensor never said {text!r}: {self.log.read_text()}")

    def signal(self, number: int) -> None:
        self.process.send_signal(number)

    def stop(self, timeout: float = 120) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def rss_mib(self) -> float:
        """Resident memory of the sensor's Python process (the child of ``ip netns exec``)."""
        pid = self.process.pid
        with open(f"/proc/{pid}/status") as f:
            fields = dict(line.split(":", 1) for line in f)
        return int(fields["VmRSS"].split()[0]) / 1024


def wait_until(predicate, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


def link_name() -> str:
    return f"tlmsn-{os.getpid()}-{time.monotonic_ns() % 100000}"

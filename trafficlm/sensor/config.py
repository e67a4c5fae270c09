"""The sensor's settings: a TOML file (every key below), command-line flags override it.

Keys (all optional except ``iface``; configs/sensor.toml is a commented example):

- ``iface``: interface to capture on (a tap or span port)
- ``bpf``: capture filter in tcpdump syntax, run in the kernel ("" = everything)
- ``model``: model directory (default: the bundled model)
- ``adapter``: a site adapter for the model, made by ``trafficlm adapt`` ("" = none);
  SIGHUP reloads it with the model, and a bad one keeps the old pair
- ``eve``: EVE JSON file the alerts and stats events are appended to
- ``metrics``: ``HOST:PORT`` for Prometheus metrics; "" turns them off
- ``stats_interval_s``: seconds between stats events in the EVE file (0 = none)
- ``user``: drop privileges to this user once the capture socket is open ("" = stay)
- ``promiscuous``: put the interface in promiscuous mode
- ``ring_mb``: size of the kernel capture ring; bursts larger than this are kernel drops
- ``block_timeout_ms``: a partly filled ring block is handed over after this long
- ``idle_timeout_s``, ``active_timeout_s``, ``max_flows``: the flow table, as offline
- ``max_pending_flows``: completed flows waiting for the model; beyond it flows are shed
- ``scoring_batch``: flows scored per model call
- ``session_gap_s``: a session closes when its hosts are quiet this long (as triage)
- ``session_report_s``: an open session is reported at least this often
- ``max_session_flows``: alerted flows held in open sessions; beyond it the oldest
  sessions are reported early
- ``max_unwritten_lines``: EVE lines kept while the disk is full; beyond it they are dropped
- ``min_dos_flows``, ``min_brute_force_flows``, ``min_tunnel_flows``: flows a denial of
  service, a brute force or a tunnel (or beacon) needs at one destination before it is
  alerted on (floors against one lone look-alike flow, as triage's ``--min-*-flows``; see
  ``session_rules``)
- ``min_scan_targets``: distinct hosts or ports a scan verdict's source must have probed
  (as triage's ``--min-scan-targets``)
- ``min_dos_packets``: or packets a denial of service reaches there instead (one host's
  ICMP flood can be a single flow), as triage's ``--min-dos-packets``
- ``min_unknown_flows``: flows unlike training one host must see before they are alerted
  on (as triage's ``--min-unknown-flows``)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from trafficlm.flows import FlowConfig
from trafficlm.model_files import DEFAULT_MODEL_DIR
from trafficlm.settings import ConfigError, bounded, check_ranges, fill, read_toml, same_as
from trafficlm.volume_floors import DEFAULT_FLOORS, VolumeFloors

MAX_RING_MB = 1024  # the ring is resident memory; the README's memory bound assumes the default


DAY_S = 86_400.0


@dataclass
class SensorConfig:
    iface: str = ""
    bpf: str = ""
    model: str = str(DEFAULT_MODEL_DIR)
    adapter: str = ""
    eve: str = "eve.json"
    metrics: str = "127.0.0.1:9781"
    stats_interval_s: float = bounded(60.0, 0, DAY_S)
    user: str = ""
    promiscuous: bool = True
    ring_mb: int = bounded(32, 1, MAX_RING_MB)  # resident: the whole ring is mapped
    block_timeout_ms: int = bounded(50, 1, 60_000)
    idle_timeout_s: float = same_as(FlowConfig, "idle_timeout_s")
    active_timeout_s: float = same_as(FlowConfig, "active_timeout_s")
    max_flows: int = same_as(FlowConfig, "max_flows")
    max_pending_flows: int = bounded(20_000, 1, 1_000_000)
    scoring_batch: int = bounded(512, 1, 65_536)
    session_gap_s: float = bounded(300.0, 0, DAY_S, above=True)
    session_report_s: float = bounded(60.0, 0, DAY_S, above=True)
    max_session_flows: int = bounded(100_000, 1, 10_000_000)
    max_unwritten_lines: int = bounded(10_000, 1, 10_000_000)
    min_dos_flows: int = bounded(DEFAULT_FLOORS.dos, 1, 1_000_000)
    min_scan_targets: int = bounded(DEFAULT_FLOORS.scan, 1, 1_000_000)
    min_brute_force_flows: int = bounded(DEFAULT_FLOORS.brute_force, 1, 1_000_000)
    min_tunnel_flows: int = bounded(DEFAULT_FLOORS.tunnel, 1, 1_000_000)
    min_dos_packets: int = bounded(DEFAULT_FLOORS.dos_packets, 1, 1_000_000_000)
    min_unknown_flows: int = bounded(DEFAULT_FLOORS.unknown, 1, 1_000_000)

    def floors(self) -> VolumeFloors:
        return VolumeFloors(self.min_dos_flows, self.min_scan_targets, self.min_brute_force_flows,
                            self.min_tunnel_flows, self.min_dos_packets,
                            self.min_unknown_flows)

    def metrics_address(self) -> tuple[str, int] | None:
        """(host, port) of the metrics endpoint; an IPv6 host is written in brackets."""
        if not self.metrics:
            return None
        host, _, port = self.metrics.rpartition(":")
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError(f"metrics must be HOST:PORT or [IPv6]:PORT, not {self.metrics!r}")
        return host, int(port)


def load_sensor_config(path: str | None, overrides: dict[str, object]) -> SensorConfig:
    """The file's settings (if any), then every override that is not None."""
    config = SensorConfig()
    if path:
        fill(Path(path), "", config, read_toml(Path(path)))
    for key, value in overrides.items():
        if value is not None:
            setattr(config, key, value)
    where = path or "command line"
    if not config.iface:
        raise ConfigError(f"{where}: no interface (--iface or iface = ...)")
    check_ranges(where, config)
    config.metrics_address()
    return config

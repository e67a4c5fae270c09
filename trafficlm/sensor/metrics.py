"""The sensor's counters, as Prometheus text on a small HTTP endpoint and as stats events.

Every packet the sensor receives ends in exactly one counted place: a scored
flow, a flow shed under load, a non-IP/malformed/unsupported frame, or a batch
dropped because the flow stage was behind. ``accounted_packets`` adds them up,
so an operator (and the overload test) can check nothing vanished silently.
"""

from __future__ import annotations

import threading
from collections import Counter

PREFIX = "trafficlm_sensor_"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
HELP = {
    "packets_received": "frames read from the capture ring",
    "bytes_received": "bytes of those frames on the wire",
    "packets_kernel_dropped": "frames the kernel ring had no room for (never received)",
    "capture_errors": "errors the capture socket reported (ENETDOWN: the link went down)",
    "packets_skipped": "received frames that carry no flow, by cause",
    "packets_dropped": "received frames dropped before flow tracking, by cause",
    "packets_scored": "packets of flows the model scored",
    "packets_shed": "packets of flows not scored because scoring was behind",
    "flows_scored": "completed flows the model scored",
    "flows_shed": "completed flows not scored because scoring was behind",
    "flows_evicted": "flows ended early because the flow table was full",
    "flows_context_evicted": "flows the session context forgot inside its window (host cap)",
    "alerts": "alerts written, by class",
    "alert_lines_dropped": "EVE lines dropped while the output could not be written",
    "write_errors": "failed writes to the EVE file, by errno name",
    "sessions_reported_early": "sessions reported before closing to bound memory",
    "sessions_held_back": "sessions not alerted on their own (too few flows, DoS collateral)",
    "sessions_context_evicted": "reported sessions forgotten early by the session rules' memory",
    "metrics_connections_dropped": "metrics connections closed unanswered (slow, or too many)",
}
# counters kept per cause (or class, or errno name); the others are one number
LABELLED = frozenset({"capture_errors", "packets_skipped", "packets_dropped", "alerts",
                      "write_errors", "sessions_held_back", "metrics_connections_dropped"})
GAUGES = {"open_flows": "flows in the flow table",
          "pending_flows": "completed flows waiting for the model",
          "pending_batches": "packet batches waiting for the flow stage",
          "open_session_flows": "alerted flows held in open sessions",
          "unwritten_lines": "EVE lines waiting for the disk"}


class Metrics:
    """Thread-safe counters (optionally labelled), gauges and a scoring-latency histogram."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: Counter = Counter()
        self._gauges: dict[str, float] = dict.fromkeys(GAUGES, 0.0)
        self._latency = [0] * (len(LATENCY_BUCKETS) + 1)
        self._latency_sum = 0.0

    def add(self, name: str, value: int = 1, label: str = "") -> None:
        _check(name, label)
        with self._lock:
            self._counters[name, label] += value

    def set_total(self, name: str, total: int, label: str = "") -> None:
        """A counter whose running total is kept elsewhere (the kernel, the flow table)."""
        _check(name, label)
        with self._lock:
            self._counters[name, label] = total

    def set(self, name: str, value: float) -> None:
        with self._lock:
            self._gauges[name] = value

    def observe_latency(self, seconds: float) -> None:
        with self._lock:
            index = next((i for i, b in enumerate(LATENCY_BUCKETS) if seconds <= b),
                         len(LATENCY_BUCKETS))
            self._latency[index] += 1
            self._latency_sum += seconds

    def value(self, name: str, label: str | None = None) -> int:
        """A counter, summed over its labels unless one is named."""
        with self._lock:
            return sum(v for (n, lab), v in self._counters.items()
                       if n == name and (label is None or lab == label))

    def accounted_packets(self) -> int:
        return sum(self.value(name) for name in ("packets_scored", "packets_shed",
                                                 "packets_skipped", "packets_dropped"))

    def snapshot(self) -> dict:
        """Everything, nested for a stats event: counters by label, gauges, latency.

        Every counter is there from the start (0, or no labels yet), so a reader tells
        "nothing happened" from "not measured" without knowing which counters exist."""
        with self._lock:
            counters: dict[str, object] = {name: {} if name in LABELLED else 0 for name in HELP}
            for (name, label), value in sorted(self._counters.items()):
                if label:
                    counters[name][label] = value  # type: ignore[index]
                else:
                    counters[name] = value
            return {**counters, **self._gauges,
                    "scoring_batches": sum(self._latency),
                    "scoring_seconds": round(self._latency_sum, 3)}

    def prometheus(self) -> str:
        """The Prometheus text exposition format."""
        lines = []
        with self._lock:
            for name, text in HELP.items():
                lines += [f"# HELP {PREFIX}{name}_total {text}",
                          f"# TYPE {PREFIX}{name}_total counter"]
                if name not in LABELLED:  # a plain counter is 0 until it counts
                    lines.append(f"{PREFIX}{name}_total {self._counters[name, '']}")
                    continue
                for (n, label), value in sorted(self._counters.items()):
                    if n == name:
                        lines.append(f'{PREFIX}{name}_total{{cause="{label}"}} {value}')
            for name, text in GAUGES.items():
                lines += [f"# HELP {PREFIX}{name} {text}", f"# TYPE {PREFIX}{name} gauge",
                          f"{PREFIX}{name} {self._gauges[name]:g}"]
            lines += self._latency_lines()
        return "\n".join(lines) + "\n"

    def _latency_lines(self) -> list[str]:
        name = f"{PREFIX}scoring_seconds"
        lines = [f"# HELP {name} time to score one batch of flows", f"# TYPE {name} histogram"]
        running = 0
        for bound, count in zip((*LATENCY_BUCKETS, "+Inf"), self._latency, strict=True):
            running += count
            lines.append(f'{name}_bucket{{le="{bound}"}} {running}')
        return [*lines, f"{name}_sum {self._latency_sum:.6f}", f"{name}_count {running}"]


def _check(name: str, label: str) -> None:
    """A counter outside HELP, or labelled where it should not be (or not where it
    should), would be invisible on the endpoint or break its format: fail where it is set."""
    if name not in HELP:
        raise KeyError(f"no sensor counter {name!r}; the counters: {', '.join(HELP)}")
    if bool(label) != (name in LABELLED):
        raise ValueError(f"sensor counter {name!r} is {'' if name in LABELLED else 'not '}"
                         f"kept by cause; got label {label!r}")

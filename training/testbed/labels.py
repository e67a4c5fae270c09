"""Ground truth by construction: each flow of a testbed capture gets the label of what made it.

Only attacker namespaces run attacks, one attack at a time, so a flow is
labelled with an attack when it started inside that attack's window and one
of its endpoints is the attacking host's address or an address of the
spoofed-source range (which only attacks forge, and which the switch
swallows); every other flow is BENIGN. Labels are written in the
CIC-IDS2017 labelled-flow layout.
"""

from __future__ import annotations

import csv
import functools
import ipaddress
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from trafficlm.capture import CaptureReport
from trafficlm.flows.frame import flows_frame
from trafficlm.pipeline import capture_flows
from trafficlm.training.testbed.scenarios import BENIGN
from trafficlm.training.testbed.world import SPOOF_RANGE

PROTOCOL_NUMBERS = {"TCP": 6, "UDP": 17, "ICMP": 1, "IPv6-ICMP": 58}
HEADER = ["Flow ID", " Source IP", " Source Port", " Destination IP", " Destination Port",
          " Protocol", " Timestamp", " TrafficLM Flow ID", " Label"]
WINDOW_SLACK_NS = 2_000_000_000  # tools may start a moment before or after the window


@dataclass(frozen=True)
class AttackWindow:
    label: str
    start_ns: int
    end_ns: int
    source: str  # the attacking host's address


def label_capture(capture: Path, out_csv: Path, windows: list[AttackWindow]) -> Counter:
    """Write the labels of every flow in ``capture``; return flows per label."""
    counts: Counter = Counter()
    report = CaptureReport(str(capture))
    with open(out_csv, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(HEADER)
        for flows in capture_flows(str(capture), report):
            for row in flows_frame(flows).iter_rows(named=True):
                label = _label(row, windows)
                counts[label] += 1
                writer.writerow(_cic_row(row, label))
    return counts


def _label(row: dict, windows: list[AttackWindow]) -> str:
    ends = (row["src_ip"], row["dst_ip"])
    spoofed = any(_spoofed(address) for address in ends)
    start = int(row["start"].timestamp() * 1e9)
    for window in windows:
        if (window.source in ends or spoofed) and \
                window.start_ns - WINDOW_SLACK_NS <= start <= window.end_ns + WINDOW_SLACK_NS:
            return window.label
    return BENIGN


SPOOFED = ipaddress.ip_network(SPOOF_RANGE)


@functools.lru_cache(maxsize=4096)  # a flood repeats a few forged sources thousands of times
def _spoofed(address: str | None) -> bool:
    try:
        return ipaddress.ip_address(address) in SPOOFED
    except ValueError:
        return False


def _cic_row(row: dict, label: str) -> list:
    proto = PROTOCOL_NUMBERS.get(row["proto"], row["proto"])
    flow_id = f"{row['src_ip']}-{row['dst_ip']}-{row['src_port']}-{row['dst_port']}-{proto}"
    stamp = row["start"].astimezone(UTC)
    return [flow_id, row["src_ip"], row["src_port"], row["dst_ip"], row["dst_port"], proto,
            stamp.strftime("%d/%m/%Y %H:%M:%S"), row["flow_id"], label]


def now_ns() -> int:
    return int(datetime.now(UTC).timestamp() * 1e9)

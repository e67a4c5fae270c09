"""The testbed's output directories as labelled flows (joined on TrafficLM Flow ID)."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from trafficlm.flows import FlowBatch
from trafficlm.flows.frame import addresses
from trafficlm.tokenizer import TrafficTokenizer
from trafficlm.training.config import ConfigError
from trafficlm.training.datasets.captures import labelled_capture
from trafficlm.training.datasets.flowset import FlowSet


def read_label_csv(path: Path) -> dict[int, str]:
    """TrafficLM Flow ID -> label, from a testbed label file."""
    with open(path, encoding="utf-8", newline="") as f:
        rows = csv.DictReader(f)
        return {int(row[" TrafficLM Flow ID"]): row[" Label"] for row in rows}


def path_rtt(manifest: dict) -> Callable[[FlowBatch], np.ndarray]:
    """Per flow, the round trip the run's link draws gave its path: twice the one-way delays
    of both hosts (a forged or unknown address adds none; lab runs have no delays: 0)."""
    hosts = manifest.get("conditions", {}).get("hosts", {})
    delay = {host["address"]: host["link"]["delay_ms"] for host in hosts.values()}

    def rtt_of(flows: FlowBatch) -> np.ndarray:
        ends = [addresses(flows.init_hi, flows.init_lo), addresses(flows.resp_hi, flows.resp_lo)]
        one_way = sum(np.array([delay.get(a, 0.0) for a in end], np.float32) for end in ends)
        return 2 * one_way

    return rtt_of


def load_testbed(directory: str, tokenizer: TrafficTokenizer, cap_per_label: int,
                 seed: int = 0, say=print) -> FlowSet:
    """Every labelled capture of one testbed run; the run is the holdout group."""
    root = Path(directory)
    if not (root / "manifest.json").exists():
        raise ConfigError(f"{root}: not a testbed output directory (no manifest.json)")
    rtt_of = path_rtt(json.loads((root / "manifest.json").read_text(encoding="utf-8")))
    sets, matched, unmatched = [], 0, 0
    for capture in sorted((root / "captures").glob("*.pcap")):
        label_file = root / "labels" / f"{capture.stem}.csv"
        if not label_file.exists():  # a step that was interrupted before labelling
            say(f"{capture}: no {label_file.name}; skipped")
            continue
        labels = read_label_csv(label_file)

        def label_of(flows, labels=labels):
            return np.array([labels.get(int(i)) for i in flows.flow_id], dtype=object)

        flowset, _, missing = labelled_capture(str(capture), label_of,
                                               f"{root.name}/{capture.stem}", root.name,
                                               tokenizer, cap_per_label, seed, rtt_of)
        unmatched += missing
        if flowset is not None:
            sets.append(flowset)
            matched += len(labels) - missing
    if not sets:
        raise ConfigError(f"{root}: no captures with labelled flows")
    say(f"{root.name}: {sum(len(s) for s in sets)} flows from {len(sets)} captures "
        f"({matched} flows matched a label, {unmatched} did not)")
    return FlowSet.concat(sets)

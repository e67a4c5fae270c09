"""The testbed's output directories as labelled flows (joined on TrafficLM Flow ID)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from trafficlm.tokenizer import TrafficTokenizer
from trafficlm.training.config import ConfigError
from trafficlm.training.datasets.captures import labelled_capture
from trafficlm.training.datasets.flowset import FlowSet


def read_label_csv(path: Path) -> dict[int, str]:
    """TrafficLM Flow ID -> label, from a testbed label file."""
    with open(path, encoding="utf-8", newline="") as f:
        rows = csv.DictReader(f)
        return {int(row[" TrafficLM Flow ID"]): row[" Label"] for row in rows}


def load_testbed(directory: str, tokenizer: TrafficTokenizer, cap_per_label: int,
                 seed: int = 0, say=print) -> FlowSet:
    """Every labelled capture of one testbed run; the run is the holdout group."""
    root = Path(directory)
    if not (root / "manifest.json").exists():
        raise ConfigError(f"{root}: not a testbed output directory (no manifest.json)")
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
                                               tokenizer, cap_per_label, seed)
        unmatched += missing
        if flowset is not None:
            sets.append(flowset)
            matched += len(labels) - missing
    if not sets:
        raise ConfigError(f"{root}: no captures with labelled flows")
    say(f"{root.name}: {sum(len(s) for s in sets)} flows from {len(sets)} captures "
        f"({matched} flows matched a label, {unmatched} did not)")
    return FlowSet.concat(sets)

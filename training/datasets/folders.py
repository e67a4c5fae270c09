"""Labelled folders: ``ROOT/<label>/*.pcap``; each flow of a capture gets its folder's label."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from trafficlm.capture import find_captures
from trafficlm.tokenizer import TrafficTokenizer
from trafficlm.training.config import ConfigError
from trafficlm.training.datasets.captures import labelled_capture
from trafficlm.training.datasets.flowset import FlowSet


def load_folders(root: str, tokenizer: TrafficTokenizer, cap_per_label: int, seed: int = 0,
                 say=print) -> FlowSet:
    """Each capture is its own holdout group, so a split never divides one capture."""
    base = Path(root)
    label_dirs = sorted(d for d in base.iterdir() if d.is_dir()) if base.is_dir() else []
    sets = []
    for label_dir in label_dirs:
        found = find_captures([str(label_dir)])
        for line in found.skipped:
            say(line)
        for path in found.paths:
            flowset, report, _ = labelled_capture(
                path, lambda flows, label=label_dir.name: np.full(len(flows), label, object),
                str(Path(path).relative_to(base)), str(Path(path).relative_to(base)), tokenizer,
                cap_per_label, seed)
            for problem in report.problems():
                say(problem)
            if flowset is not None:
                sets.append(flowset)
    if not sets:
        raise ConfigError(f"{root}: no captures found in ROOT/<label>/ folders")
    say(f"{base.name}: {sum(len(s) for s in sets)} flows from {len(sets)} captures "
        f"in {len(label_dirs)} label folders")
    return FlowSet.concat(sets)

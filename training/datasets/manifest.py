"""A corpus described by a MANIFEST.tsv: one label per capture (``path`` and ``label`` columns).

A capture labelled as an attack can still hold benign flows, so only the
captures whose label is benign give labelled flows (BENIGN); the attack
captures are kept out of training altogether and serve the corpus detection
table. Each capture falls into one of ``groups`` holdout groups
(``corpus-0`` ...) by a stable hash of its path, so a recipe can name whole
captures for validation and test, never flows of one capture on two sides.
"""

from __future__ import annotations

import csv
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trafficlm.model import BENIGN
from trafficlm.tokenizer import TrafficTokenizer
from trafficlm.training.config import ConfigError
from trafficlm.training.datasets.captures import labelled_capture
from trafficlm.training.datasets.flowset import FlowSet

GROUP_PREFIX = "corpus-"


@dataclass(frozen=True)
class ManifestCapture:
    path: str  # absolute
    label: str  # as the manifest writes it
    group: str  # corpus-<k>


def read_manifest(manifest: str, groups: int) -> list[ManifestCapture]:
    """Every capture the manifest lists, with its label and holdout group."""
    base = Path(manifest).parent
    try:
        with open(manifest, encoding="utf-8", newline="") as f:
            rows = list(csv.DictReader(f, delimiter="\t"))
    except FileNotFoundError:
        raise ConfigError(f"{manifest}: no such manifest") from None
    if rows and not {"path", "label"} <= set(rows[0]):
        raise ConfigError(f"{manifest}: needs 'path' and 'label' columns "
                          f"(has: {', '.join(rows[0])})")
    return [ManifestCapture(str(base / row["path"]), row["label"],
                            f"{GROUP_PREFIX}{zlib.crc32(row['path'].encode()) % groups}")
            for row in rows]


def load_manifest_benign(manifest: str, benign_labels: list[str], groups: int,
                         tokenizer: TrafficTokenizer, cap_per_label: int, seed: int = 0,
                         say=print, required: bool = True) -> FlowSet | None:
    """The flows of the manifest's benign captures, labelled BENIGN, grouped by capture hash;
    none is an error when ``required`` (a manifest read for its attack captures may hold
    no benign one), else None."""
    sets = []
    captures = [c for c in read_manifest(manifest, groups) if c.label in benign_labels]
    for capture in captures:
        flowset, _, _ = labelled_capture(
            capture.path, lambda flows: np.full(len(flows), BENIGN, object), capture.path,
            capture.group, tokenizer, cap_per_label, seed)
        if flowset is not None:
            sets.append(flowset)
    if not sets and not required:
        return None
    if not sets:
        raise ConfigError(f"{manifest}: no flows in captures labelled "
                          f"{', '.join(benign_labels)}")
    say(f"{Path(manifest).parent.name}: {sum(len(s) for s in sets)} benign flows from "
        f"{len(sets)} of {len(captures)} benign captures")
    return FlowSet.concat(sets)

"""What an evaluation stage's table rests on, so a table measured alone stands in the full one.

The stages that fine-tune models of their own from the pretrained encoder (the
corpus k-fold, sim-to-real, unseen conditions, leave one attack out) never read
the recipe's fine-tuned model: their tables depend on the recipe, the encoder
and the labelled flows alone. The corpus k-fold takes 40 minutes here, so a
k-fold run with ``train evaluate --only`` while the shipped model fine-tunes
need not run again in the full evaluation: ``evaluate`` keeps it when the
digest of those inputs it recorded is the digest of the inputs now.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

from trafficlm.training.config import Recipe
from trafficlm.training.datasets.flowset import FlowSet

OWN_MODEL_STAGES = ("corpus_kfold", "sim_to_real", "unseen_conditions", "leave_one_attack_out")


def inputs_digest(recipe: Recipe, flows: FlowSet) -> str:
    """SHA-256 over the recipe's settings, every file of its pretrained encoder and the
    labelled flows' token ids, labels and captures (what a remade testbed run changes)."""
    digest = hashlib.sha256(json.dumps(dataclasses.asdict(recipe), sort_keys=True,
                                       default=str).encode())
    encoder = Path(recipe.output) / "pretrain" / "model"
    for path in sorted(p for p in encoder.rglob("*") if p.is_file()):
        digest.update(path.relative_to(encoder).as_posix().encode())
        digest.update(path.read_bytes())
    for column in (flows.ids, flows.labels, flows.capture):
        digest.update(column.astype(str).tobytes() if column.dtype == object
                      else column.tobytes())
    return digest.hexdigest()


def measured_alone(directory: Path, name: str, digest: str) -> dict | None:
    """The stage's table from ``train evaluate --only`` (``directory/NAME.json``) when it
    was measured on inputs with this digest; None when there is none or they differ."""
    if name not in OWN_MODEL_STAGES:
        return None
    try:
        result = json.loads((directory / f"{name}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return result if result.get("inputs") == digest else None

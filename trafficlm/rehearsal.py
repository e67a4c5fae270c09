"""The rehearsal set a model ships with: a few training flows of every class it knows.

A site adapter is fitted on the site's own benign traffic. Fitted on that
alone, the classifier would learn that everything is benign and forget its
attack classes. So every model directory keeps a small, class-balanced
sample of its training flows (token ids and class, nothing that names a
host), and ``trafficlm adapt`` rehearses them beside the site's flows.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from trafficlm.model_files import ModelError

REHEARSAL_FILE = "rehearsal.safetensors"
PER_CLASS = 100  # flows kept per class: enough to remember a class, few enough to fit fast


def sample_rehearsal(ids: np.ndarray, labels: np.ndarray, seed: int = 0,
                     per_class: int = PER_CLASS) -> tuple[np.ndarray, np.ndarray]:
    """At most ``per_class`` distinct flows of each class, seeded."""
    rng = np.random.default_rng(seed)
    rows = []
    for label in sorted(set(labels.tolist())):
        mine = np.flatnonzero(labels == label)
        rows.append(mine if len(mine) <= per_class else rng.choice(mine, per_class,
                                                                   replace=False))
    chosen = np.sort(np.concatenate(rows))
    return ids[chosen], labels[chosen]


def save_rehearsal(directory: Path, ids: np.ndarray, labels: np.ndarray,
                   classes: list[str]) -> None:
    index = {name: i for i, name in enumerate(classes)}
    save_file({"ids": torch.from_numpy(np.ascontiguousarray(ids, np.int32)),
               "labels": torch.tensor([index[x] for x in labels.tolist()], dtype=torch.int64)},
              str(Path(directory) / REHEARSAL_FILE))


def load_rehearsal(directory: Path, classes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(ids, class names) of a model's rehearsal set, checked against its classes."""
    path = Path(directory) / REHEARSAL_FILE
    if not path.is_file():
        raise ModelError(f"{directory}: no {REHEARSAL_FILE}; this model predates site "
                         "adaptation (retrain it with 'trafficlm train finetune')")
    try:
        tensors = load_file(str(path))
        ids, labels = tensors["ids"].numpy(), tensors["labels"].numpy()
    except Exception as err:  # safetensors raises its own errors, KeyError, OSError
        raise ModelError(f"{path}: not a readable rehearsal set: {err!r}") from None
    if ids.ndim != 2 or len(ids) != len(labels) or not len(ids):
        raise ModelError(f"{path}: ids {ids.shape} and labels {labels.shape} do not match")
    if labels.min() < 0 or labels.max() >= len(classes):
        raise ModelError(f"{path}: a class index is outside the model's {len(classes)} classes")
    return ids, np.array(classes, dtype=object)[labels]

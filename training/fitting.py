"""One pass of supervised fitting over token id rows, shared by fine-tuning and site
adaptation, so both train the classifier the same way (length-bucketed batches, clipped
gradients, the shared learning-rate schedule)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from tqdm import tqdm

from trafficlm.model import forward, length_batches


def fit_epoch(model, ids: np.ndarray, y: np.ndarray, optimizer, loss_fn, schedule,
              batch_size: int, rng: np.random.Generator, desc: str,
              vary: Callable[[np.ndarray], np.ndarray] | None = None) -> float:
    """Train ``model`` once over (``ids``, ``y``); the mean loss per row. ``vary``, when
    given, rewrites each batch's rows before they are seen (conditions_variation.py)."""
    model.train()
    total = 0.0
    for rows in tqdm(length_batches(ids, batch_size, rng), desc=desc, leave=False):
        batch = ids[rows] if vary is None else vary(ids[rows])
        logits, _ = forward(model, batch)
        loss = loss_fn(logits, torch.from_numpy(y[rows]))
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        schedule.step()
        optimizer.step()
        total += float(loss.item()) * len(rows)
    return total / max(1, len(ids))

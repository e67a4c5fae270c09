"""One pass of supervised fitting over token id rows, shared by fine-tuning and site
adaptation, so both train the classifier the same way (length-bucketed batches, clipped
gradients, the shared learning-rate schedule)."""

from __future__ import annotations

import numpy as np
import torch
from tqdm import tqdm

from trafficlm.model import forward, length_batches


def fit_epoch(model, ids: np.ndarray, y: np.ndarray, optimizer, loss_fn, schedule,
              batch_size: int, rng: np.random.Generator, desc: str) -> float:
    """Train ``model`` once over (``ids``, ``y``); the mean loss per row."""
    model.train()
    total = 0.0
    for rows in tqdm(length_batches(ids, batch_size, rng), desc=desc, leave=False):
        logits, _ = forward(model, ids[rows])
        loss = loss_fn(logits, torch.from_numpy(y[rows]))
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        schedule.step()
        optimizer.step()
        total += float(loss.item()) * len(rows)
    return total / max(1, len(ids))

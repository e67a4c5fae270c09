"""Fine-tuning rows seen as if they had crossed another network.

The unseen-conditions table is the failure this is for: a model fine-tuned
on paths under 100 ms recognised brute force and floods by their timing and
collapsed on 300 ms paths (macro-F1 0.46). The wide testbed draws delays,
stacks and TTLs per run, but a run has a handful of hosts, so each attack is
still seen under few conditions. Here a share of the training rows, drawn
afresh every batch, is varied in what the network and the end hosts' stacks
decide, never in what the tool sends:

- timing scaled by 2^k, k drawn from [-3, 4]: every inter-arrival bucket and
  the duration bucket shift by k (both are log2 buckets, so a shift is a
  scaling), clipped to the field's range; "first packet" and "no gap" stay;
- the TTL classes permuted (another pair of stacks; the hop count is hidden
  by the class already);
- the TCP window buckets shifted by j drawn from [-2, 2] (other buffer sizes);
  a zero window stays zero.

Payload, lengths, flags, options, service, packet and byte totals and the
session context are left as they are: they are what the attack is.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from trafficlm.tokenizer import vocab as V

TIMING_SHIFTS = (-3, 4)  # inclusive range of the log2 timing scale
WINDOW_SHIFTS = (-2, 2)
# per field: the first bucket a shift may touch (lower ones mean "none" or "first")
TIMING_FIELDS = (("iat", 2), ("duration", 1))
WINDOW_FIELD = ("tcp_window", 1)


def condition_variation(vocab: V.Vocabulary, share: float,
                        rng: np.random.Generator) -> Callable[[np.ndarray], np.ndarray]:
    """A function that returns a batch of token rows with ``share`` of them varied."""

    def vary(ids: np.ndarray) -> np.ndarray:
        return vary_conditions(ids, vocab, share, rng)

    return vary


def vary_conditions(ids: np.ndarray, vocab: V.Vocabulary, share: float,
                    rng: np.random.Generator) -> np.ndarray:
    """A copy of ``ids`` (rows of token ids) with about ``share`` of the rows varied."""
    out = ids.copy()
    varied = rng.random(len(ids)) < share
    timing = rng.integers(TIMING_SHIFTS[0], TIMING_SHIFTS[1] + 1, len(ids))
    for name, first in TIMING_FIELDS:
        _shift(out, varied, vocab[name], first, timing)
    window = rng.integers(WINDOW_SHIFTS[0], WINDOW_SHIFTS[1] + 1, len(ids))
    _shift(out, varied, vocab[WINDOW_FIELD[0]], WINDOW_FIELD[1], window)
    _permute_ttl(out, varied, vocab["ttl"], rng)
    return out


def _shift(ids: np.ndarray, rows: np.ndarray, field: V.Field, first: int,
           by: np.ndarray) -> None:
    """Move the buckets >= ``first`` of ``field`` in ``rows`` by ``by`` (one shift per row)."""
    value = ids - field.base
    where = rows[:, None] & (value >= first) & (value < field.size)
    moved = np.clip(value + by[:, None], first, field.size - 1) + field.base
    ids[where] = moved[where]


def _permute_ttl(ids: np.ndarray, rows: np.ndarray, field: V.Field,
                 rng: np.random.Generator) -> None:
    """Relabel the TTL classes of each row in ``rows`` by a permutation of its own."""
    value = ids - field.base
    where = rows[:, None] & (value >= 0) & (value < field.size)
    permutations = np.argsort(rng.random((len(ids), field.size)), axis=1)
    row_of = np.broadcast_to(np.arange(len(ids))[:, None], ids.shape)
    ids[where] = permutations[row_of[where], value[where]] + field.base

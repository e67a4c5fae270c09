"""Which flows of a site's baseline are kept out of a site adapter's fit as attacks.

A baseline the operator calls normal can hold an attack. The base model calls
only some of an attack's flows an attack with high confidence: in a testbed
site with every staged attack mixed in, 32 of 736 attack flows. The rest it
alerts on with less confidence, and those are exactly what an adapter fits
first (the site's look-alikes), so an attack guarded flow by flow is still
absorbed as normal. An attack is an episode: one source's alerted flows to
one host, with no gap longer than triage's session gap. An episode that holds
a confident flow is kept out whole. So is a one-off burst: a host pair whose
alerted flows (at least ``BURST_FLOWS``) all fall within a quarter of the
baseline's span. The same testbed site's slowloris, 254 flows in 9 s from a
second attacker address, has no confident flow at all (201 of them are only
unlike training), and fitted as normal it was no longer alerted. A burst's
unalerted flows go with it: the same host pair's flows from a session gap
before the burst to a session gap after it (in another site's baseline, 105 of
a slowloris's 304 flows alerted; the other 199, fitted as normal, taught the
adapter the attack's shape and it stopped alerting). What a site
does again and again over the baseline (a monitoring system's poll, alerted
every few minutes for the whole hour) stays in, as do the flows the base
model finds benign and the ones an analyst marked. A job that ran once in the
baseline is kept out too, and keeps alerting until an analyst marks it.
"""

from __future__ import annotations

import numpy as np

from trafficlm.flows import FlowBatch

GUARD_CONFIDENCE = 0.9
EPISODE_GAP_NS = 300 * 10**9  # triage's session gap
BURST_FLOWS = 10  # triage's floor for a denial of service
RECURRING_SHARE = 0.25  # a host pair alerting over a quarter of the baseline recurs
CONFIDENT, SAME_EPISODE, ONE_OFF_BURST, DURING_BURST = 1, 2, 3, 4
REASONS = {CONFIDENT: f"an attack verdict with confidence >= {GUARD_CONFIDENCE}",
           SAME_EPISODE: "the same attack episode",
           ONE_OFF_BURST: "a one-off burst",
           DURING_BURST: "the same hosts during a one-off burst"}

_MIX = np.array([0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9,
                 0x27D4EB2F165667C5], np.uint64)


def host_pairs(flows: FlowBatch) -> np.ndarray:
    """One 64-bit key per (source address, destination address) of each flow."""
    parts = (flows.init_hi, flows.init_lo, flows.resp_hi, flows.resp_lo)
    key = np.zeros(len(flows.init_lo), np.uint64)
    with np.errstate(over="ignore"):
        for part, mix in zip(parts, _MIX, strict=True):
            key = (key ^ (np.asarray(part, np.uint64) * mix)) * np.uint64(0x100000001B3)
    return key


def kept_out(starts: np.ndarray, pairs: np.ndarray, alerted: np.ndarray,
             confident: np.ndarray, marked: np.ndarray) -> np.ndarray:
    """Per flow, why it is kept out of the fit (one of ``REASONS``), or 0 when it is not.
    A flow analysts marked a false positive (``marked``) is never kept out: not as an
    alert, not as a confident verdict, not as a neighbour of a burst."""
    alerted, confident = alerted & ~marked, confident & ~marked
    reason = np.where(confident, CONFIDENT, 0).astype(np.int8)
    candidates = np.flatnonzero(alerted | confident)
    if not len(candidates):
        return reason
    order = candidates[np.lexsort((starts[candidates], pairs[candidates]))]
    new_pair = np.diff(pairs[order]) != 0
    gap = np.diff(starts[order]) > EPISODE_GAP_NS
    episode = np.concatenate([[0], np.cumsum(gap | new_pair)])
    free = reason[order] == 0
    same = free & np.isin(episode, np.unique(episode[confident[order]]))
    reason[order[same]] = SAME_EPISODE
    pair = np.concatenate([[0], np.cumsum(new_pair)])
    bounds = np.flatnonzero(np.concatenate([[True], new_pair, [True]]))
    count, spread = np.diff(bounds), starts[order][bounds[1:] - 1] - starts[order][bounds[:-1]]
    one_off = (count >= BURST_FLOWS) & (spread < RECURRING_SHARE * np.ptp(starts))
    burst = free & ~same & one_off[pair]
    reason[order[burst]] = ONE_OFF_BURST
    first, last = bounds[:-1][one_off], bounds[1:][one_off] - 1
    during = _in_windows(starts, pairs, pairs[order][first], starts[order][first] - EPISODE_GAP_NS,
                         starts[order][last] + EPISODE_GAP_NS)
    reason[during & (reason == 0) & ~marked] = DURING_BURST
    return reason


def _in_windows(starts: np.ndarray, pairs: np.ndarray, keys: np.ndarray, lows: np.ndarray,
                highs: np.ndarray) -> np.ndarray:
    """Which flows belong to one of the host pairs ``keys`` (sorted, each once, as
    ``kept_out``'s pair groups come) and start inside that pair's window [low, high]."""
    if not len(keys):
        return np.zeros(len(starts), bool)
    at = np.minimum(np.searchsorted(keys, pairs), len(keys) - 1)
    return (keys[at] == pairs) & (starts >= lows[at]) & (starts <= highs[at])

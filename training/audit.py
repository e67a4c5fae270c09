"""The shortcut audit: which token fields the verdicts rest on.

A model that learned the lab, not the attack, leans on what the lab
happened to make constant: the attacker's TTL, its TCP window, the lab's
round-trip times. Per field, the audit shuffles that field's tokens across
the test flows (every token of the field is swapped with one of the same
field drawn from another place in the test set, so the field's overall mix
stays and what it says about each flow goes) and counts how many verdicts
move, and which classes lose most of their recall. A class that collapses
when TTL, window or timing is shuffled was recognised by a property of the
network, not of the attack.
"""

from __future__ import annotations

import numpy as np

from trafficlm.model import TrafficModel
from trafficlm.tokenizer import vocab as V
from trafficlm.training.datasets.flowset import FlowSet

FIELDS = {
    "TTL class": ("ttl",),
    "TCP window": ("tcp_window",),
    "TCP options": ("tcp_options",),
    "inter-arrival time": ("iat",),
    "packet lengths": ("length", "udp_length"),
    "TCP flags": ("tcp_flags",),
    "payload bytes": ("byte",),
    "service port": ("service",),
    "flow totals": V.FLOW_STAT_FIELDS,
    "session context": (*(name for name, _ in V.CONTEXT_FIELDS), "ctx_regularity"),
    # a slower path or another stack moves these together: one at a time can hide a model
    # that reads whichever of them is left
    "all network fields at once": ("ttl", "tcp_window", "tcp_options", "iat", "duration"),
}
# properties of a network rather than of an attack: a class should survive their shuffle
NETWORK_FIELDS = ("TTL class", "TCP window", "TCP options", "inter-arrival time",
                  "all network fields at once")
COLLAPSE = 0.5  # a class collapses when it keeps less than this share of its recall


def shortcut_audit(model: TrafficModel, test: FlowSet, seed: int = 0) -> dict:
    """Per field: share of verdicts that changed, recall per class after the shuffle, and
    the classes that collapsed."""
    rng = np.random.default_rng(seed)
    labels = np.array(model.labels, dtype=object)
    before = labels[model.predict(test.ids)[0].argmax(axis=1)]
    recall_before = _recall(test.labels, before)
    out = {"recall": recall_before, "fields": {}}
    for name, fields in FIELDS.items():
        present = [f for f in fields if f in model.tokenizer.vocab.fields]
        if not present:
            continue
        ids = shuffled(test.ids, model.tokenizer.vocab, present, rng)
        after = labels[model.predict(ids)[0].argmax(axis=1)]
        recall_after = _recall(test.labels, after)
        collapsed = sorted(c for c, r in recall_before.items()
                           if r > 0 and recall_after[c] < COLLAPSE * r)
        out["fields"][name] = {"verdicts_changed": round(float((after != before).mean()), 4),
                               "recall": recall_after, "collapsed": collapsed}
    return out


def shuffled(ids: np.ndarray, vocab: V.Vocabulary, fields: list[str],
             rng: np.random.Generator) -> np.ndarray:
    """``ids`` with the tokens of ``fields`` permuted among themselves, across all flows."""
    out = ids.copy()
    for name in fields:
        field = vocab[name]
        where = (out >= field.base) & (out < field.base + field.size)
        out[where] = rng.permutation(out[where])
    return out


def _recall(truth: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    return {str(c): round(float((predicted[truth == c] == c).mean()), 4)
            for c in sorted(set(truth))}


def audit_lines(audit: dict | None) -> list[str]:
    """The audit as a card section."""
    if not audit:
        return []
    lines = ["", "## Shortcut audit (test flows; a token field shuffled across them, or every "
             "network field at once)", "",
             f"A class collapses when it keeps under {COLLAPSE:.0%} of its recall. Collapsing "
             f"on {', '.join(NETWORK_FIELDS)} means it learned the network, not the attack.", "",
             "| shuffled field | verdicts changed | classes that collapse |", "| --- | --- | --- |"]
    for name, row in audit["fields"].items():
        lines.append(f"| {name} | {100 * row['verdicts_changed']:.1f}% | "
                     f"{', '.join(row['collapsed']) or 'none'} |")
    return lines

"""Do explanations name the attack? What the top piece of evidence rests on, per class.

An analyst checks an alert against its evidence. For a web attack or a
tunnel the evidence worth checking is a payload piece (the injected string,
the encoded DNS label); for a brute force, a scan, a flood or a beacon it is
a fact about the session (hundreds of earlier connections to the same port,
hundreds of ports tried). Evidence resting on the TTL, the TCP window or
the timing is a property of the network the model happened to train on. Per
class, this counts which kind of token the top piece of evidence of the
test flows' correct verdicts rests on, explained as triage explains them
(gradient x input, ``trafficlm/attribution.py``).
"""

from __future__ import annotations

import numpy as np

from trafficlm.attribution import ranked_evidence, token_attributions
from trafficlm.model import BENIGN, TrafficModel
from trafficlm.tokenizer.layout import Slot
from trafficlm.tokenizer.provenance import provenance_of_ids
from trafficlm.training.datasets.flowset import FlowSet

SESSION_SLOTS = (Slot.CTX_SRC_FLOWS, Slot.CTX_PAIR_FLOWS, Slot.CTX_DST_PORTS,
                 Slot.CTX_PORT_HOSTS, Slot.CTX_DST_SOURCES, Slot.CTX_REGULARITY)
NETWORK_SLOTS = (Slot.TTL, Slot.TCP_WINDOW, Slot.TCP_OPTIONS, Slot.IAT, Slot.DIRECTION)
# what should explain a class, by words in its name; the first match decides (so a web
# brute force is a session matter, the other web attacks a payload one)
EXPECTED = (("Brute Force", "session"), ("Patator", "session"), ("Scan", "session"),
            ("Fingerprint", "session"), ("DoS", "session"), ("Beacon", "session"),
            ("Web Attack", "payload"), ("Tunnel", "payload"))
PER_CLASS = 40  # distinct correctly classified test flows explained per class


def piece_kind(slot: Slot) -> str:
    if slot == Slot.PAYLOAD:
        return "payload"
    if slot in SESSION_SLOTS:
        return "session"
    return "network" if slot in NETWORK_SLOTS else "flow"


def expected_kind(label: str) -> str | None:
    return next((kind for word, kind in EXPECTED if word in label), None)


def explanation_kinds(model: TrafficModel, test: FlowSet, seed: int = 0) -> dict:
    """Per attack class: flows explained and the share whose top piece is payload, session,
    network or other flow facts, beside the kind the class should be explained by."""
    rng = np.random.default_rng(seed)
    labels = np.array(model.labels, dtype=object)
    predicted = labels[model.predict(test.ids)[0].argmax(axis=1)]
    out = {}
    for label in sorted(set(test.labels) - {BENIGN}):
        right = np.flatnonzero((test.labels == label) & (predicted == label))
        _, first = np.unique(test.ids[right], axis=0, return_index=True)
        rows = right[first]
        rows = rows if len(rows) <= PER_CLASS else rng.choice(rows, PER_CLASS, replace=False)
        if not len(rows):
            continue
        kinds = _top_kinds(model, test.ids[rows], model.labels.index(label))
        expected = expected_kind(label)
        out[label] = {"explained": len(rows), "expected": expected,
                      **{kind: round(kinds.count(kind) / len(rows), 4)
                         for kind in ("payload", "session", "network", "flow")},
                      "share_expected": round(kinds.count(expected) / len(rows), 4)
                      if expected else None}
    return out


def _top_kinds(model: TrafficModel, ids: np.ndarray, target: int) -> list[str]:
    where = provenance_of_ids(model.tokenizer.vocab, ids)
    weights = token_attributions(model, ids, np.full(len(ids), target))
    kinds = []
    for k in range(len(ids)):
        pieces = ranked_evidence(model, ids[k], where.slot[k], where.packet[k],
                                 where.byte_offset[k], [], weights[k])
        kinds.append(piece_kind(pieces[0][0]) if pieces else "none")
    return kinds


def explanation_lines(kinds: dict | None) -> list[str]:
    """The table as a card section."""
    if not kinds:
        return []
    lines = ["", "## What the top evidence rests on (correct verdicts on test flows)", "",
             "Web attacks and tunnels should be explained by a payload piece; brute force, "
             "scans, floods and beacons by a session fact; network (TTL, window, options, "
             "timing, direction) means a lab artefact.", "",
             "| class | explained | should be | share so | payload | session | network | "
             "other flow facts |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for label, r in kinds.items():
        share = "n/a" if r["share_expected"] is None else f"{100 * r['share_expected']:.0f}%"
        lines.append(f"| {label} | {r['explained']} | {r['expected'] or 'n/a'} | {share} | "
                     + " | ".join(f"{100 * r[k]:.0f}%" for k in ("payload", "session",
                                                                  "network", "flow")) + " |")
    return lines

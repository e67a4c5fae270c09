"""Every labelled attack capture tested once, whole, by a model that never saw it.

The corpus's attack captures are few per family, so one held-out split would
test a handful. Here each fold of ``corpus_folds`` (siblings together, see
``corpus_folds``) is held out in turn: a LoRA model is fine-tuned from the
same pretrained encoder on everything else (the recipe's training flows and
the other folds' attack flows), saved, and each held-out capture goes
through triage's scoring and sessions. A capture is detected when a session
has a verdict of the capture's own labels (``corpus_labels``); ``any_alert``
counts any session. The ceiling says how many captures had a sibling of
their family in another fold to learn from.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from trafficlm.capture import CaptureReport
from trafficlm.flows import FlowBatch
from trafficlm.flows.frame import flows_frame
from trafficlm.model import BENIGN, TrafficModel
from trafficlm.pipeline import capture_flows
from trafficlm.training.config import Recipe
from trafficlm.training.corpus_detection import capture_verdicts
from trafficlm.training.corpus_folds import AttackCapture, attack_folds, kfold_table
from trafficlm.training.datasets.corpus_labels import CaptureLabels, read_corpus_labels
from trafficlm.training.datasets.flowset import FlowSet
from trafficlm.training.datasets.manifest import ManifestCapture
from trafficlm.training.finetune import calibrate, finetune, save_model
from trafficlm.training.split import Split


def labelled_attacks(captures: list[ManifestCapture]
                     ) -> list[tuple[ManifestCapture, CaptureLabels, AttackCapture]]:
    """The attack captures the label file covers, with their entry and the hosts their
    labelled flows touch (what makes two captures siblings)."""
    labels = read_corpus_labels()
    out = []
    for capture in captures:
        entry = labels.entry_for(capture.path)
        if entry is None or capture.label == "benign":
            continue
        entry = labels.resolved(entry, capture.label)
        batches = list(capture_flows(capture.path, CaptureReport(capture.path)))
        frame = flows_frame(FlowBatch.concat(batches))
        found, _ = entry.flow_labels(frame)
        attack = frame.filter(_attack_rows(found))
        hosts = frozenset(attack["src_ip"].to_list()) | frozenset(attack["dst_ip"].to_list())
        out.append((capture, entry, AttackCapture(entry.path, entry.label, hosts)))
    return out


def _attack_rows(found: np.ndarray) -> np.ndarray:
    """Rows labelled with an attack (not unlabelled, not BENIGN)."""
    return np.array([label not in (None, BENIGN) for label in found], dtype=bool)


def corpus_kfold(recipe: Recipe, encoder: Path, flows: FlowSet, split: Split,
                 captures: list[ManifestCapture], tokenizer, say=print) -> dict:
    """The k-fold whole-capture table (see the module docstring)."""
    k = recipe.evaluate.corpus_folds
    attacks = labelled_attacks(captures)
    folds = attack_folds([a for _, _, a in attacks], k)
    attack_paths = np.array([c.path for c, _, _ in attacks], dtype=object)
    is_attack_flow = np.isin(flows.capture, attack_paths)
    detected, alerted = {}, {}
    for fold in range(k):
        held = [(c, e) for c, e, a in attacks if folds[a.name] == fold]
        if not held:
            continue
        say(f"corpus k-fold: fold {fold + 1} of {k}, {len(held)} captures held out")
        model = _fold_model(recipe, encoder, flows, split, is_attack_flow,
                            np.array([c.path for c, _ in held], dtype=object), tokenizer, fold)
        for capture, entry in held:
            verdicts = capture_verdicts(model, capture.path)
            detected[entry.path] = bool(verdicts & _families(entry))
            alerted[entry.path] = bool(verdicts)
    table = kfold_table([a for _, _, a in attacks], folds, detected)
    for _, entry, a in attacks:
        table[a.family].setdefault("any_alert", 0)
        table[a.family]["any_alert"] += alerted.get(entry.path, False)
    total = len(attacks)
    summary = {"folds": k, "captures": total,
               "detected": sum(detected.values()), "any_alert": sum(alerted.values()),
               "ceiling": sum(row["ceiling"] for row in table.values())}
    say(f"corpus k-fold: {summary}")
    return {"summary": summary, "per_family": table}


def _fold_model(recipe: Recipe, encoder: Path, flows: FlowSet, split: Split,
                is_attack_flow: np.ndarray, held: np.ndarray, tokenizer,
                fold: int) -> TrafficModel:
    """A model fine-tuned without the ``held`` captures: the recipe's training flows and
    every other attack capture's flows, whatever split group they sit in."""
    outside = ~np.isin(flows.capture, held)
    extra = flows.select(is_attack_flow & outside & ~np.isin(flows.capture, split.train.capture)
                         & ~np.isin(flows.capture, split.validation.capture))
    train = FlowSet.concat([split.train.select(~np.isin(split.train.capture, held)), extra])
    validation = split.validation.select(~np.isin(split.validation.capture, held))
    fine = finetune(recipe, encoder, train, validation, mode="lora",
                    epochs=recipe.evaluate.fold_epochs, say=lambda m: None)
    calibration = calibrate(fine.classifier, train, validation, fine.labels,
                            recipe.finetune.open_set_fpr)
    directory = Path(recipe.output) / "evaluation" / "folds" / f"fold-{fold}"
    return TrafficModel(save_model(fine, calibration, tokenizer, directory))


def _families(entry: CaptureLabels) -> set[str]:
    """The verdicts that fit a capture: its label and its rules' own labels."""
    return {entry.label, *(rule.label for rule in entry.rules if rule.label)}

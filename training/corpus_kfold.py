"""Every labelled attack capture tested once, whole, by a model that never saw it.

The corpus's attack captures are few per family, so one held-out split would
test a handful. Here each fold of ``corpus_folds`` (siblings together, see
``corpus_folds``) is held out in turn: a LoRA model is fine-tuned from the
same pretrained encoder on everything else (the recipe's training flows and
the other folds' attack flows), saved, and each held-out capture goes
through triage's scoring and sessions. A capture is detected when a session
has a verdict of the capture's own labels (``corpus_labels``); ``any_alert``
counts any session; ``rules_detected`` scores the Zeek-style counting rules
(``counting_rules``) on the same capture by the same measure. The ceiling
says how many captures had a sibling of their family in another fold to
learn from. Each fold's model also runs the held-out benign captures (the
recipe's test groups, never read in training) through triage: the table's
false-alarm line counts, over the folds, the benign captures that alerted.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from trafficlm.flows import FlowBatch
from trafficlm.flows.frame import flows_frame
from trafficlm.model import BENIGN, TrafficModel
from trafficlm.training.config import Recipe
from trafficlm.training.corpus_detection import capture_verdicts, read_capture
from trafficlm.training.corpus_folds import AttackCapture, attack_folds, kfold_table
from trafficlm.training.counting_rules import rule_verdicts
from trafficlm.training.datasets.corpus_labels import CaptureLabels, covered_attacks
from trafficlm.training.datasets.flowset import FlowSet
from trafficlm.training.datasets.manifest import ManifestCapture
from trafficlm.training.finetune import side_model
from trafficlm.training.operating_points import operating_points
from trafficlm.training.split import Split


def labelled_attacks(captures: list[ManifestCapture]
                     ) -> list[tuple[ManifestCapture, CaptureLabels, AttackCapture]]:
    """The attack captures the label file covers, with their entry and the hosts their
    labelled flows touch (what makes two captures siblings)."""
    out = []
    for capture, entry in covered_attacks(captures):
        frame = flows_frame(read_capture(capture.path))
        found, _ = entry.flow_labels(frame)
        attack = frame.filter(pl.Series([label not in (None, BENIGN) for label in found]))
        hosts = frozenset(attack["src_ip"].to_list()) | frozenset(attack["dst_ip"].to_list())
        out.append((capture, entry, AttackCapture(entry.path, entry.label, hosts)))
    return out


def corpus_kfold(recipe: Recipe, encoder: Path, split: Split,
                 captures: list[ManifestCapture], tokenizer, say=print) -> dict:
    """The k-fold whole-capture table (see the module docstring)."""
    k = recipe.evaluate.corpus_folds
    attacks = labelled_attacks(captures)
    folds = attack_folds([a for _, _, a in attacks], k)
    # attack flows the recipe's split put in its test groups still teach the other folds
    attack_paths = [c.path for c, _, _ in attacks]
    tested_attacks = split.test.select(np.isin(split.test.capture, attack_paths))
    outcomes: dict[str, dict[str, bool]] = {"detected": {}, "any_alert": {},
                                            "rules_detected": {}}
    verdicts: dict[str, dict[str, float]] = {}  # per capture: its verdicts' surest scores
    benign = {c.path: read_capture(c.path) for c in captures  # read once for every fold
              if c.label in recipe.data.manifest_benign and c.group in recipe.data.test_groups}
    benign_alerts: list[dict] = []  # per fold and alerted benign capture: its verdicts
    for fold in range(k):
        held = [(c, e) for c, e, a in attacks if folds[a.name] == fold]
        if not held:
            continue
        say(f"corpus k-fold: fold {fold + 1} of {k}, {len(held)} captures held out")
        model = _fold_model(recipe, encoder, split, tested_attacks,
                            [c.path for c, _ in held], tokenizer, fold)
        for capture, entry in held:
            flows = read_capture(capture.path)
            verdicts[entry.path] = capture_verdicts(model, capture.path, flows)
            alerted = set(verdicts[entry.path])
            outcomes["detected"][entry.path] = bool(alerted & _families(entry))
            outcomes["any_alert"][entry.path] = bool(alerted)
            rules = rule_verdicts(flows_frame(flows)) if flows else set()
            outcomes["rules_detected"][entry.path] = bool(rules & _families(entry))
        benign_alerts += _benign_alerts(model, benign, fold)
    table = kfold_table([a for _, _, a in attacks], folds, outcomes)
    tested = sum(1 for fold in range(k) if fold in folds.values())
    summary = {"folds": k, "captures": len(attacks),
               **{column: sum(held.values()) for column, held in outcomes.items()},
               "ceiling": sum(row["ceiling"] for row in table.values()),
               "benign_captures": len(benign),
               "benign_with_any_alert": round(len(benign_alerts) / (len(benign) * tested), 4)
               if benign and tested else None}
    say(f"corpus k-fold: {summary}")
    captures_out = [{"capture": a.name, "family": a.family, "fold": folds[a.name],
                     "verdicts": sorted(verdicts.get(a.name, {})),
                     "scores": verdicts.get(a.name, {}),
                     **{column: bool(held.get(a.name)) for column, held in outcomes.items()}}
                    for _, _, a in attacks]
    points = operating_points(
        [(verdicts.get(entry.path, {}), lambda found, entry=entry: bool(found & _families(entry)))
         for _, entry, _ in attacks],
        [a["scores"] for a in benign_alerts], len(benign) * tested)
    return {"summary": summary, "per_family": table, "captures": captures_out,
            "benign_alerts": benign_alerts, "operating_points": points}


def _benign_alerts(model: TrafficModel, benign: dict[str, FlowBatch | None],
                   fold: int) -> list[dict]:
    """The held-out benign captures (path: flows) that one fold's model alerts on, with the
    verdicts: a k-fold table that only counted detections would reward a model that alerts
    on all."""
    alerted = []
    for path, flows in benign.items():
        scores = capture_verdicts(model, path, flows)
        if scores:
            alerted.append({"capture": path, "fold": fold, "verdicts": sorted(scores),
                            "scores": scores})
    return alerted


def _fold_model(recipe: Recipe, encoder: Path, split: Split, tested_attacks: FlowSet,
                held: list[str], tokenizer, fold: int) -> TrafficModel:
    """A model fine-tuned without the ``held`` captures: the recipe's training flows plus
    the other folds' attack flows from its test groups."""
    def without_held(flows: FlowSet) -> FlowSet:
        return flows.select(~np.isin(flows.capture, held))

    train = FlowSet.concat([without_held(split.train), without_held(tested_attacks)])
    directory = Path(recipe.output) / "evaluation" / "folds" / f"fold-{fold}"
    return side_model(recipe, encoder, train, without_held(split.validation), tokenizer,
                      directory, recipe.evaluate.fold_epochs)


def _families(entry: CaptureLabels) -> set[str]:
    """The verdicts that fit a capture: its label and its rules' own labels."""
    return {entry.label, *(rule.label for rule in entry.rules if rule.label)}

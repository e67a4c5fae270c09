"""Unseen conditions: a model fine-tuned on fast paths and some server programs, tested on
slow paths and the programs it never met.

A held-out run of the same world shares its networks with training. This
evaluation holds the world's conditions out instead. It fine-tunes a fresh
model on the training runs' flows whose path round trip (both hosts' drawn
delays, from the run's manifest) is below ``seen_rtt_ms``, leaving out every
run with a program of ``unseen_programs``. It then tests on flows no part of
that training read a label of: every flow of those runs, and the test runs'
flows on paths at least ``unseen_rtt_ms`` slow. The gap between the two
thresholds keeps "unseen" from meaning "one millisecond slower". The corpus's
benign flows train as they do in the main model; only testbed flows are
tested, since only they have drawn conditions.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from trafficlm.model import classify
from trafficlm.training.config import Recipe
from trafficlm.training.datasets.flowset import FlowSet
from trafficlm.training.finetune import finetune
from trafficlm.training.metrics import macro_f1, per_class
from trafficlm.training.split import Split


def run_programs(testbed_dirs: list[str]) -> dict[str, set[str]]:
    """Testbed run (its group) -> the server programs its world drew."""
    out = {}
    for directory in testbed_dirs:
        manifest = json.loads((Path(directory) / "manifest.json").read_text(encoding="utf-8"))
        services = manifest.get("conditions", {}).get("services", {})
        out[Path(directory).name] = {s["program"] for s in services.values()}
    return out


def condition_split(recipe: Recipe, flows: FlowSet, split: Split) -> Split:
    """(seen-condition training and validation flows, unseen-condition test flows)."""
    cfg = recipe.evaluate
    programs = run_programs(recipe.data.testbed)
    unseen_run = np.array([bool(programs.get(g, set()) & set(cfg.unseen_programs))
                           for g in flows.group])
    testbed = ~np.isnan(flows.path_rtt_ms)
    with np.errstate(invalid="ignore"):
        seen_path = ~testbed | (flows.path_rtt_ms < cfg.seen_rtt_ms)
        slow_path = testbed & (flows.path_rtt_ms >= cfg.unseen_rtt_ms)
    in_group = {side: np.isin(flows.group, sorted(set(getattr(split, side).group)))
                for side in ("train", "validation", "test")}
    seen = seen_path & ~unseen_run
    test = testbed & (unseen_run | (in_group["test"] & slow_path))
    return Split(flows.select(in_group["train"] & seen),
                 flows.select(in_group["validation"] & seen), flows.select(test))


def unseen_conditions(recipe: Recipe, encoder: Path, flows: FlowSet, split: Split,
                      say=print) -> dict:
    """Fine-tune on seen conditions, score the unseen ones: macro-F1 and per class, over the
    classes training saw (a class only the unseen runs hold cannot be named)."""
    cfg = recipe.evaluate
    parts = condition_split(recipe, flows, split)
    say(f"unseen conditions: {len(parts.train)} training flows on paths under "
        f"{cfg.seen_rtt_ms:g} ms without {', '.join(cfg.unseen_programs)}; "
        f"{len(parts.test)} test flows")
    fine = finetune(recipe, encoder, parts.train, parts.validation, mode="lora",
                    epochs=cfg.unseen_epochs, say=lambda m: None)
    known = np.isin(parts.test.labels, fine.labels)
    test = parts.test.select(known)
    probs, _ = classify(fine.classifier, test.ids)
    predicted = np.array(fine.labels, dtype=object)[probs.argmax(axis=1)]
    return {"seen_rtt_ms": cfg.seen_rtt_ms, "unseen_rtt_ms": cfg.unseen_rtt_ms,
            "unseen_programs": list(cfg.unseen_programs), "split": parts.describe(),
            "untrained_class_flows": int((~known).sum()),
            "macro_f1": round(macro_f1(test.labels, predicted), 4),
            "per_class": per_class(test.labels, predicted, sorted(set(test.labels)))}


def unseen_lines(result: dict | None) -> list[str]:
    """The evaluation as a card section."""
    if not result:
        return []
    sizes = result["split"]
    lines = ["## Unseen conditions (fine-tuned on fast paths, tested on slow paths and "
             "unseen server programs)", "",
             f"- macro-F1 {result['macro_f1']:.4f} on {sizes['test']['flows']} test flows: "
             f"every flow of the runs with {', '.join(result['unseen_programs'])} and the test "
             f"runs' flows on paths of {result['unseen_rtt_ms']:g} ms round trip or more",
             f"- trained on {sizes['train']['flows']} flows on paths under "
             f"{result['seen_rtt_ms']:g} ms from runs without those programs (the encoder's "
             "pretraining read those runs' captures, labels ignored)", "",
             "| class | precision | recall | F1 | flows |", "| --- | --- | --- | --- | --- |"]
    for label, m in result["per_class"].items():
        lines.append(f"| {label} | {m['precision']:.4f} | {m['recall']:.4f} | {m['f1']:.4f} | "
                     f"{m['support']} |")
    return [*lines, ""]

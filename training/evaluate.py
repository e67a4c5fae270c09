"""Honest evaluation: the model beside the frozen probe and two shallow baselines, on a
group-disjoint test split; detection at fixed false-positive rates; unseen attacks.

Writes ``OUTPUT/evaluation/results.json``, ``results.md`` and ``confusion.png``.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from trafficlm.model import BENIGN, TrafficModel, classify
from trafficlm.training import baselines
from trafficlm.training.audit import shortcut_audit
from trafficlm.training.config import ConfigError, Recipe
from trafficlm.training.corpus_detection import corpus_detection
from trafficlm.training.corpus_kfold import corpus_kfold
from trafficlm.training.data import labelled_flows, recipe_tokenizer, unseen_manifest_captures
from trafficlm.training.datasets.flowset import FlowSet
from trafficlm.training.datasets.manifest import read_manifest
from trafficlm.training.explanations import explanation_kinds
from trafficlm.training.finetune import calibrate, finetune
from trafficlm.training.metrics import (
    confusion,
    detection_at_fpr,
    macro_f1,
    per_class,
    reorder_columns,
)
from trafficlm.training.report import write_reports, write_stage
from trafficlm.training.sim_to_real import sim_to_real
from trafficlm.training.split import Split, split_by_group
from trafficlm.training.stage_inputs import inputs_digest, measured_alone
from trafficlm.training.unseen_conditions import unseen_conditions


def evaluate(recipe: Recipe, say=print,
             on_report: Callable[[dict], None] = lambda results: None) -> dict:
    """Score the recipe's model and run every other system and table of the recipe.

    The reports are rewritten before each stage, naming the stages still to run, so an
    evaluation stopped part way (an hour for the world recipe) keeps every table it finished;
    ``on_report`` is called with the results each time (the job writes the card). The
    tables on networks the model never saw run first; one measured alone (``--only``) on
    the same inputs is kept, not measured again (``stage_inputs``)."""
    started = time.monotonic()
    model = TrafficModel(Path(recipe.output) / "model")
    flows = labelled_flows(recipe, model.tokenizer, say)
    split = split_by_group(flows, recipe.data.validation_groups, recipe.data.test_groups,
                           recipe.source)
    labels = model.labels
    probs, distance = model.predict(split.test.ids)
    results = {"split": split.describe(), "labels": labels,
               "model": _scores(split.test, probs, labels, recipe.evaluate.fprs),
               "open_set": _open_set(split.test, probs, distance, model.calibration.threshold,
                                     labels)}
    predicted = np.array(labels, dtype=object)[probs.argmax(axis=1)]
    matrix = confusion(split.test.labels, predicted, labels)
    directory = Path(recipe.output) / "evaluation"
    stages = _stages(recipe, model, model.tokenizer, flows, split,
                     lambda: results["model"]["macro_f1"], say)
    digest, kept_seconds = inputs_digest(recipe, flows), 0.0
    for done, (key, stage) in enumerate(stages):
        results["pending"] = [name for name, _ in stages[done:]]
        write_reports(directory, results, matrix)
        on_report(results)
        results[key] = measured_alone(directory / "only", key, digest)
        if results[key] is None:
            results[key] = stage()
        else:
            say(f"{key}: kept from 'train evaluate --only {key}' on the same inputs")
            kept_seconds += results[key].get("seconds", 0.0)
    del results["pending"]
    # the kept tables' time counts: the evaluation cost it, only earlier
    results["evaluation_seconds"] = round(time.monotonic() - started + kept_seconds, 1)
    write_reports(directory, results, matrix)
    return results


STAGE_NAMES = ("corpus_detection", "baselines", "shortcut_audit", "explanations",
               "corpus_kfold", "sim_to_real", "unseen_conditions", "probe",
               "leave_one_attack_out", "seeds")


def evaluate_only(recipe: Recipe, names: list[str], say=print) -> dict:
    """Only the named stages, each written to ``evaluation/only/NAME.json`` and ``.md``:
    one table measured again after a change to the data or the recipe, without the hour
    of the others and without touching the full evaluation's results. The tables that
    fine-tune models of their own from the pretrained encoder (corpus k-fold, sim-to-real,
    unseen conditions, leave one attack out) need no fine-tuned model of the recipe, and the
    full evaluation keeps theirs while their inputs stay the same (``stage_inputs``)."""
    misspelt = [name for name in names if name not in STAGE_NAMES]
    if misspelt:  # before minutes of reading flows
        raise ConfigError(f"no evaluation stage {', '.join(misspelt)}; the stages: "
                          f"{', '.join(STAGE_NAMES)}")
    model_dir = Path(recipe.output) / "model"
    model = TrafficModel(model_dir) if (model_dir / "config.json").exists() else None
    tokenizer = model.tokenizer if model else recipe_tokenizer(recipe)
    flows = labelled_flows(recipe, tokenizer, say)
    split = split_by_group(flows, recipe.data.validation_groups, recipe.data.test_groups,
                           recipe.source)
    stages = dict(_stages(recipe, model, tokenizer, flows, split,
                          lambda: _shipped_f1(model, split), say))
    unknown = [name for name in names if name not in stages]
    if unknown:
        need = " (the others need a fine-tuned model: run 'trafficlm train finetune')" \
            if model is None else ""
        raise ConfigError(f"{recipe.source}: no evaluation stage {', '.join(unknown)} in this "
                          f"recipe; it has: {', '.join(stages)}{need}")
    directory = Path(recipe.output) / "evaluation" / "only"
    digest, results = inputs_digest(recipe, flows), {}
    for name in names:
        started = time.monotonic()
        results[name] = {**stages[name](), "seconds": round(time.monotonic() - started, 1),
                         "inputs": digest}
        write_stage(directory, name, results[name])
    return results


def _shipped_f1(model: TrafficModel, split: Split) -> float:
    probs, _ = model.predict(split.test.ids)
    return _scores(split.test, probs, model.labels, [])["macro_f1"]


Stage = tuple[str, Callable[[], dict]]


def _stages(recipe: Recipe, model: TrafficModel | None, tokenizer, flows: FlowSet,
            split: Split, shipped_f1: Callable[[], float], say) -> list[Stage]:
    """The recipe's evaluation stages in the order they run, each (results key, job); with
    no fine-tuned ``model``, only those that fine-tune their own."""
    encoder = Path(recipe.output) / "pretrain" / "model"
    stages: list[Stage] = []
    # the quickest tables first (minutes each: the model's own verdicts on the held-out
    # captures, the shallow baselines, the audit), then those that fine-tune models of
    # their own (up to 40 minutes each): a run stopped part way has the most tables
    if recipe.data.manifest and model:
        stages.append(("corpus_detection", lambda: corpus_detection(
            model, unseen_manifest_captures(recipe), recipe.data.manifest_benign, say)))
    if model:
        stages += [("baselines", lambda: _baselines(recipe, split, model.labels)),
                   ("shortcut_audit", lambda: shortcut_audit(model, split.test, recipe.seed)),
                   ("explanations", lambda: explanation_kinds(model, split.test, recipe.seed))]
    if recipe.data.corpus_attacks:
        captures = read_manifest(recipe.data.manifest, recipe.data.manifest_groups)
        stages.append(("corpus_kfold", lambda: corpus_kfold(
            recipe, encoder, split, captures, tokenizer, say)))
        if recipe.data.testbed or recipe.data.folders or recipe.data.cicids:
            stages.append(("sim_to_real", lambda: sim_to_real(
                recipe, encoder, split, captures, tokenizer, say)))
    if recipe.evaluate.unseen_programs and recipe.data.testbed:
        stages.append(("unseen_conditions", lambda: unseen_conditions(
            recipe, encoder, flows, split, say)))
    if model:
        stages.append(("probe", lambda: _probe(recipe, encoder, split, model.labels, say)))
    if recipe.evaluate.leave_one_out:
        stages.append(("leave_one_attack_out", lambda: _leave_one_out(
            recipe, encoder, split, say)))
    if recipe.evaluate.finetune_seeds and model:
        stages.append(("seeds", lambda: _seed_spread(recipe, encoder, split, shipped_f1(),
                                                     say)))
    return stages


def _probe(recipe: Recipe, encoder: Path, split: Split, labels: list[str], say) -> dict:
    """A linear probe on the frozen encoder: what pretraining alone gives."""
    say("frozen-encoder probe")
    probe = finetune(recipe, encoder, split.train, split.validation, mode="probe",
                     epochs=recipe.evaluate.probe_epochs, say=say)
    probe_probs, _ = classify(probe.classifier, split.test.ids)
    probe_probs = reorder_columns(probe_probs, probe.labels, labels)
    return _scores(split.test, probe_probs, labels, recipe.evaluate.fprs)


def _scores(test: FlowSet, probs: np.ndarray, labels: list[str], fprs: list[float]) -> dict:
    predicted = np.array(labels, dtype=object)[probs.argmax(axis=1)]
    attack_score = 1 - probs[:, labels.index(BENIGN)]
    is_attack = test.labels != BENIGN
    present = sorted(set(test.labels))
    return {"macro_f1": round(macro_f1(test.labels, predicted), 4),
            "per_class": per_class(test.labels, predicted, present),
            "detection": [detection_at_fpr(attack_score, is_attack, fpr) for fpr in fprs]}


def _open_set(test: FlowSet, probs, distance, threshold: float, labels: list[str]) -> dict:
    """What triage alerts on: a non-benign class, or a flow unlike anything in training."""
    alert = (probs.argmax(axis=1) != labels.index(BENIGN)) | (distance > threshold)
    is_attack = test.labels != BENIGN
    return {"threshold": threshold,
            "attack_flows_alerted": round(float(alert[is_attack].mean()), 4)
            if is_attack.any() else None,
            "benign_flows_alerted": round(float(alert[~is_attack].mean()), 4)
            if (~is_attack).any() else None,
            "flagged_unlike_training": round(float((distance > threshold).mean()), 4)}


def _baselines(recipe: Recipe, split: Split, labels: list[str]) -> dict:
    cfg = recipe.evaluate
    out = {}
    knn = baselines.knn(split.train, cfg.knn_neighbours)
    probs = baselines.baseline_probabilities(knn, split.test.sequence_features, labels)
    out["knn_sequences"] = _scores(split.test, probs, labels, cfg.fprs)
    forest = baselines.forest(split.train, cfg.forest_trees, recipe.seed)
    probs = baselines.baseline_probabilities(forest, split.test.flow_features, labels)
    out["random_forest_flow_stats"] = _scores(split.test, probs, labels, cfg.fprs)
    return out


def _seed_spread(recipe: Recipe, encoder: Path, split: Split, shipped: float, say) -> dict:
    """The held-out macro-F1 of fine-tuning again with other seeds, beside the shipped
    model's: one seed's number can be luck."""
    scores = [shipped]
    for seed in recipe.evaluate.finetune_seeds:
        say(f"fine-tuning again with seed {seed}")
        fine = finetune(dataclasses.replace(recipe, seed=seed), encoder, split.train,
                        split.validation, say=lambda m: None)
        probs, _ = classify(fine.classifier, split.test.ids)
        predicted = np.array(fine.labels, dtype=object)[probs.argmax(axis=1)]
        scores.append(round(macro_f1(split.test.labels, predicted), 4))
    return {"seeds": [recipe.seed, *recipe.evaluate.finetune_seeds], "macro_f1": scores,
            "mean": round(float(np.mean(scores)), 4),
            "spread": round(float(np.max(scores) - np.min(scores)), 4)}


def _leave_one_out(recipe: Recipe, encoder: Path, split: Split, say) -> dict:
    """Retrain without each attack class; how many of its test flows still raise an alert?"""
    out = {}
    attacks = sorted(set(split.train.labels) - {BENIGN})
    for attack in attacks:
        unseen = split.test.select(split.test.labels == attack)
        if not len(unseen):
            continue
        say(f"leave one out: {attack}")
        train = split.train.select(split.train.labels != attack)
        validation = split.validation.select(split.validation.labels != attack)
        fine = finetune(recipe, encoder, train, validation, mode="lora",
                        epochs=recipe.evaluate.leave_one_out_epochs, say=lambda m: None)
        calibration = calibrate(fine.classifier, train, validation, fine.labels,
                                recipe.finetune.open_set_fpr)
        probs, embeddings = classify(fine.classifier, unseen.ids)
        known_attack = probs.argmax(axis=1) != fine.labels.index(BENIGN)
        unlike = calibration.distance(embeddings) > calibration.threshold
        benign = split.test.select(split.test.labels == BENIGN)
        b_probs, b_emb = classify(fine.classifier, benign.ids)
        false_alarm = (b_probs.argmax(axis=1) != fine.labels.index(BENIGN)) | (
            calibration.distance(b_emb) > calibration.threshold)
        out[attack] = {"test_flows": len(unseen),
                       "detected": round(float((known_attack | unlike).mean()), 4),
                       "as_another_attack": round(float(known_attack.mean()), 4),
                       "by_open_set_only": round(float((unlike & ~known_attack).mean()), 4),
                       "benign_false_alarms": round(float(false_alarm.mean()), 4)}
    return out


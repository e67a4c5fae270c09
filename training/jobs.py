"""The ``trafficlm train`` jobs: pretrain, finetune, evaluate, and all three in order."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from trafficlm.rehearsal import sample_rehearsal, save_rehearsal
from trafficlm.training.card import model_card
from trafficlm.training.config import ConfigError, Recipe, require_validation
from trafficlm.training.data import labelled_flows, recipe_tokenizer
from trafficlm.training.evaluate import evaluate, evaluate_only
from trafficlm.training.finetune import calibrate, finetune, save_model
from trafficlm.training.pretrain import pretrain
from trafficlm.training.split import split_by_group


def pretrain_job(recipe: Recipe, say=print) -> Path:
    """Pretrain the encoder; its time goes into the run's timings for the card."""
    started = time.monotonic()
    out = pretrain(recipe, say=say)
    _record_timing(recipe, "pretrain", time.monotonic() - started)
    return out


def finetune_job(recipe: Recipe, say=print) -> Path:
    """Fine-tune on the recipe's labelled data, calibrate the open-set score, save the model;
    its time goes into the run's timings, so jobs run one by one still fill the card's."""
    require_validation(recipe)
    encoder = Path(recipe.output) / "pretrain" / "model"
    if not (encoder / "model.safetensors").exists():
        raise ConfigError(f"{encoder}: no pretrained encoder; run "
                          f"'trafficlm train pretrain --config {recipe.source}' first")
    started = time.monotonic()
    tokenizer = recipe_tokenizer(recipe)
    split = split_by_group(labelled_flows(recipe, tokenizer, say), recipe.data.validation_groups,
                           recipe.data.test_groups, recipe.source)
    say(f"split: {json.dumps(split.describe())}")
    fine = finetune(recipe, encoder, split.train, split.validation, say=say)
    calibration = calibrate(fine.classifier, split.train, split.validation, fine.labels,
                            recipe.finetune.open_set_fpr)
    out = save_model(fine, calibration, tokenizer, Path(recipe.output) / "model")
    _save_rehearsal(recipe, split.train, fine.labels)
    seconds = time.monotonic() - started
    (out / "training.json").write_text(json.dumps(
        {"recipe": recipe.source, "mode": recipe.finetune.mode, "history": fine.history,
         "split": split.describe(), "seconds": round(seconds, 1)},
        indent=1), encoding="utf-8")
    _record_timing(recipe, "finetune", seconds)
    say(f"model saved to {out}")
    return out


def rehearsal_job(recipe: Recipe, say=print) -> Path:
    """Write the rehearsal set of a model fine-tuned before models carried one."""
    model_dir = Path(recipe.output) / "model"
    labels = json.loads((model_dir / "labels.json").read_text(encoding="utf-8"))
    split = split_by_group(labelled_flows(recipe, recipe_tokenizer(recipe), say),
                           recipe.data.validation_groups, recipe.data.test_groups,
                           recipe.source)
    _save_rehearsal(recipe, split.train, labels)
    say(f"rehearsal set written to {model_dir}")
    return model_dir


def _save_rehearsal(recipe: Recipe, train, labels: list[str]) -> None:
    """A class-balanced sample of the training flows, for site adapters (``rehearsal``)."""
    known = np.isin(train.labels, labels)
    save_rehearsal(Path(recipe.output) / "model",
                   *sample_rehearsal(train.ids[known], train.labels[known], recipe.seed),
                   labels)


def evaluate_job(recipe: Recipe, say=print) -> dict:
    """Evaluate the recipe's model and write its model card from the results, so the card
    always states what the latest evaluation measured; before each stage too, so an
    evaluation stopped part way leaves a card that says which tables it did not reach."""
    require_validation(recipe)
    card = Path(recipe.output) / "model" / "README.md"
    # an earlier evaluation's time is not this one's: the card gets this one's at the end
    timings = {job: s for job, s in _recorded_timings(recipe).items() if job != "evaluate"}
    results = evaluate(recipe, say=say, on_report=lambda partial: card.write_text(
        model_card(recipe, partial, timings), encoding="utf-8"))
    timings = _record_timing(recipe, "evaluate", results["evaluation_seconds"])
    card.write_text(model_card(recipe, results, timings), encoding="utf-8")
    return results


def evaluate_only_job(recipe: Recipe, names: list[str], say=print) -> dict:
    """Some evaluation stages alone (``--only``); the model card is left as it is, since it
    states what the latest full evaluation measured."""
    require_validation(recipe)
    return evaluate_only(recipe, names, say=say)


def all_jobs(recipe: Recipe, say=print) -> dict:
    require_validation(recipe)
    pretrain_job(recipe, say=say)
    finetune_job(recipe, say=say)
    return evaluate_job(recipe, say=say)


def _recorded_timings(recipe: Recipe) -> dict:
    """The jobs' latest times from the run's ``timings.json`` (none yet: empty)."""
    path = Path(recipe.output) / "timings.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def _record_timing(recipe: Recipe, job: str, seconds: float) -> dict:
    """Write how long ``job`` took into the run's ``timings.json`` beside the other jobs'
    latest times; return them all."""
    path = Path(recipe.output) / "timings.json"
    timings = _recorded_timings(recipe)
    timings[job] = round(seconds, 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(timings, indent=1), encoding="utf-8")
    return timings

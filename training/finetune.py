"""Fine-tuning the pretrained encoder to classify flows: LoRA (peft) or a frozen-encoder probe.

LoRA adapts the attention's query/value projections while the classification
head trains in full; the probe freezes the encoder and trains the head alone
(the test that shows what pretraining learned). Class weights counter the
imbalance between floods and rare attacks; training stops when validation
macro-F1 has not improved for ``patience`` epochs, keeping the best epoch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

from trafficlm.model import BENIGN, Calibration, TrafficModel, classify
from trafficlm.tokenizer.vocab import Vocabulary
from trafficlm.training.conditions_variation import condition_variation
from trafficlm.training.config import Recipe
from trafficlm.training.datasets.flowset import FlowSet
from trafficlm.training.fitting import fit_epoch
from trafficlm.training.metrics import macro_f1
from trafficlm.training.schedule import LinearSchedule

# The classification head trains in full in both modes. BERT classifies from
# its pooler (a dense layer over [CLS]), which masked-token pretraining never
# trains: left frozen at its random start it would scramble every feature.
HEAD = ("classifier", "pooler")


@dataclass
class FineTuned:
    classifier: object  # a BertForSequenceClassification with LoRA merged in
    labels: list[str]
    history: list[dict]
    adapter: tuple[object, dict] | None = None  # (LoraConfig, adapter weights) in LoRA mode


def finetune(recipe: Recipe, encoder_dir: Path, train: FlowSet, validation: FlowSet,
             mode: str | None = None, epochs: int | None = None, say=print) -> FineTuned:
    from peft import LoraConfig, get_peft_model
    from transformers import BertForSequenceClassification

    cfg = recipe.finetune
    mode = mode or cfg.mode
    labels = sorted(set(train.labels) | {BENIGN})
    index = {label: i for i, label in enumerate(labels)}
    torch.manual_seed(recipe.seed)
    model = BertForSequenceClassification.from_pretrained(
        encoder_dir, num_labels=len(labels), id2label=dict(enumerate(labels)),
        label2id=index, use_safetensors=True, local_files_only=True)
    if mode == "lora":
        model = get_peft_model(model, LoraConfig(
            r=cfg.lora_r, lora_alpha=cfg.lora_alpha, target_modules=list(cfg.lora_targets),
            modules_to_save=list(HEAD), task_type="SEQ_CLS", lora_dropout=0.05))
    else:
        for name, parameter in model.named_parameters():
            parameter.requires_grad = any(part in HEAD for part in name.split("."))
    y = np.array([index[label] for label in train.labels])
    weights = class_weights(y, len(labels), cfg.class_weights == "inverse")
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad],
                                  lr=cfg.learning_rate)
    loss_fn = torch.nn.CrossEntropyLoss(weight=torch.from_numpy(weights))
    rng = np.random.default_rng(recipe.seed)
    vary = (condition_variation(Vocabulary(recipe.tokenizer.context), cfg.vary_conditions, rng)
            if cfg.vary_conditions else None)
    best, best_state, history, stale = -1.0, None, [], 0
    epochs = epochs or cfg.epochs
    schedule = LinearSchedule(optimizer, cfg.learning_rate,
                         epochs * -(-len(train) // cfg.batch_size))
    for epoch in range(epochs):
        loss = fit_epoch(model, train.ids, y, optimizer, loss_fn, schedule, cfg.batch_size,
                         rng, f"{mode} epoch {epoch + 1}", vary)
        score = macro_f1(validation.labels, predict_labels(model, validation.ids, labels))
        history.append({"epoch": epoch + 1, "loss": round(loss, 5),
                        "validation_macro_f1": round(score, 4)})
        say(f"{mode} epoch {epoch + 1}: loss {loss:.4f}, validation macro-F1 {score:.4f}")
        if score > best:
            best, stale = score, 0
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            stale += 1
            if stale >= cfg.patience:
                break
    model.load_state_dict(best_state)
    adapter = None
    if mode == "lora":
        from peft import get_peft_model_state_dict

        adapter = (model.peft_config["default"], get_peft_model_state_dict(model))
        model = model.merge_and_unload()
    return FineTuned(model.eval(), labels, history, adapter)


def class_weights(y: np.ndarray, classes: int, inverse: bool) -> np.ndarray:
    """Rare classes weigh more: 1/count or 1/sqrt(count), mean 1 over present classes
    (fine-tuning and site adaptation weigh alike)."""
    counts = np.bincount(y, minlength=classes).astype(np.float64)
    present = counts > 0
    weights = np.zeros(classes)
    weights[present] = 1.0 / (counts[present] if inverse else np.sqrt(counts[present]))
    return (weights / weights[present].mean()).astype(np.float32)


@torch.no_grad()
def predict_labels(model, ids: np.ndarray, labels: list[str]) -> np.ndarray:
    probs, _ = classify(model, ids)
    return np.array(labels, dtype=object)[probs.argmax(axis=1)]


def calibrate(model, train: FlowSet, validation: FlowSet, labels: list[str],
              fpr: float) -> Calibration:
    """The open-set calibration from training flows and benign validation flows."""
    benign = validation.select(validation.labels == BENIGN)
    return calibrate_ids(model, train.ids, train.labels,
                         benign.ids if len(benign) else validation.ids, labels, fpr)


def calibrate_ids(model, train_ids: np.ndarray, train_labels: np.ndarray,
                  benign_ids: np.ndarray, labels: list[str], fpr: float) -> Calibration:
    """Class means and a shared covariance from training embeddings; the threshold from
    held-out benign flows at the chosen false-positive rate."""
    _, train_emb = classify(model, train_ids)
    means = np.stack([train_emb[train_labels == label].mean(axis=0) if (
        train_labels == label).any() else np.zeros(train_emb.shape[1]) for label in labels])
    centred = train_emb - means[[labels.index(label) for label in train_labels]]
    covariance = np.cov(centred, rowvar=False) + 1e-3 * np.eye(train_emb.shape[1])
    calibration = Calibration(means, np.linalg.inv(covariance), 0.0, fpr)
    val_probs, val_emb = classify(model, benign_ids)
    distances = calibration.distance(val_emb)
    calibration.threshold = float(np.quantile(distances, 1 - fpr))
    calibration.benign_distances = np.sort(distances)
    calibration.benign_attack_scores = np.sort(1 - val_probs[:, labels.index(BENIGN)])
    return calibration


def save_model(fine: FineTuned, calibration: Calibration, tokenizer, directory: Path,
               card: str | None = None) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    fine.classifier.save_pretrained(directory, safe_serialization=True)
    tokenizer.save_pretrained(directory)
    (directory / "labels.json").write_text(json.dumps(fine.labels, ensure_ascii=False,
                                                      indent=1), encoding="utf-8")
    calibration.save(directory)
    if fine.adapter is not None:
        config, weights = fine.adapter
        config.save_pretrained(directory / "adapter")
        save_file({k: v.contiguous() for k, v in weights.items()},
                  str(directory / "adapter" / "adapter_model.safetensors"))
    if card is not None:
        (directory / "README.md").write_text(card, encoding="utf-8")
    return directory


def side_model(recipe: Recipe, encoder_dir: Path, train: FlowSet, validation: FlowSet,
               tokenizer, directory: Path, epochs: int) -> TrafficModel:
    """A LoRA model fine-tuned, calibrated and saved beside the shipped one, for an
    evaluation that must hold some data out of training (a k-fold's fold, the corpus's
    attacks for sim-to-real); loaded as triage would load it."""
    fine = finetune(recipe, encoder_dir, train, validation, mode="lora", epochs=epochs,
                    say=lambda m: None)
    calibration = calibrate(fine.classifier, train, validation, fine.labels,
                            recipe.finetune.open_set_fpr)
    return TrafficModel(save_model(fine, calibration, tokenizer, directory))

"""The traffic model on disk and in memory: a Hugging Face directory, read from safetensors only.

A model directory holds ``config.json`` + ``model.safetensors`` (the encoder
with its classification head, LoRA merged in), ``adapter/`` (the peft
adapter alone), ``tokenizer_config.json``, ``labels.json`` and the open-set
calibration (``calibration.json`` + ``calibration.safetensors``). Nothing is
ever unpickled: ``torch.load`` of an untrusted file runs code.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from trafficlm.model_files import (  # noqa: F401 - callers import these three from here too
    BENIGN,
    DEFAULT_MODEL_DIR,
    UNKNOWN,
    ModelError,
    check_calibration,
    check_config,
    check_finite,
    check_labels,
    check_weights,
    read_json,
)
from trafficlm.site_adapter import apply_adapter, check_adapter
from trafficlm.site_gate import BaseHead, SiteGate, gated, nearest_distance
from trafficlm.tokenizer import TokenizerError, TrafficTokenizer
from trafficlm.tokenizer import vocab as V

# Flows per forward pass when scoring. On 2 CPU cores 32-64 rows score ~1.7x faster
# than 256 (the activations stay in cache); bench/triage.py measures the effect.
SCORING_BATCH = 64


def bert_config(model, tokenizer: TrafficTokenizer, **extra):
    """A BERT encoder config sized by a [model] section, for this tokenizer's ids."""
    from transformers import BertConfig

    return BertConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=model.hidden_size,
        num_hidden_layers=model.num_hidden_layers,
        num_attention_heads=model.num_attention_heads,
        intermediate_size=model.intermediate_size,
        hidden_dropout_prob=model.dropout, attention_probs_dropout_prob=model.dropout,
        max_position_embeddings=tokenizer.config.max_length, type_vocab_size=1,
        pad_token_id=V.PAD, **extra)


@dataclass
class Calibration:
    """Open-set scoring: distance of a flow's embedding to the nearest known class."""

    means: np.ndarray  # [classes, hidden]
    precision: np.ndarray  # [hidden, hidden], shared across classes
    threshold: float  # distances above it are "unlike anything seen in training"
    fpr: float  # the benign validation false-positive rate the threshold was set at
    # the benign validation flows' scores, sorted, so triage can pick any other rate
    benign_distances: np.ndarray | None = None
    benign_attack_scores: np.ndarray | None = None

    def distance(self, embeddings: np.ndarray) -> np.ndarray:
        """Mahalanobis distance to the nearest mean (a class's, or a site centroid's)."""
        return nearest_distance(embeddings, self.means, self.precision)

    def thresholds_at(self, fpr: float) -> tuple[float, float]:
        """(attack-score, distance) thresholds that alert ``fpr`` of benign validation flows."""
        if self.benign_attack_scores is None or self.benign_distances is None:
            raise ModelError("this model stores no benign validation scores; use --threshold "
                             "or retrain it to choose a false-positive rate")
        if not 0 < fpr < 1:
            raise ModelError(f"a false-positive rate is between 0 and 1, not {fpr}")
        return (float(np.quantile(self.benign_attack_scores, 1 - fpr)),
                float(np.quantile(self.benign_distances, 1 - fpr)))

    def save(self, directory: Path) -> None:
        tensors = {"means": self.means, "precision": self.precision,
                   "benign_distances": self.benign_distances,
                   "benign_attack_scores": self.benign_attack_scores}
        save_file({k: torch.from_numpy(np.asarray(v, np.float32)) for k, v in tensors.items()
                   if v is not None}, str(directory / "calibration.safetensors"))
        (directory / "calibration.json").write_text(json.dumps(
            {"threshold": self.threshold, "fpr": self.fpr,
             "score": "Mahalanobis distance of the [CLS] embedding to the nearest class mean"},
            indent=1), encoding="utf-8")

    @classmethod
    def load(cls, directory: Path, hidden: int) -> Calibration:
        """The calibration of ``directory``, checked to fit an encoder ``hidden`` wide."""
        path = directory / "calibration.safetensors"
        try:
            tensors = load_file(str(path))
            means, precision = tensors["means"].numpy(), tensors["precision"].numpy()
        except Exception as err:  # safetensors raises its own errors, KeyError, OSError
            raise ModelError(f"{path}: not a readable calibration: {err!r}") from None
        meta = read_json(directory / "calibration.json")
        threshold, fpr = check_calibration(directory, means, precision, hidden, meta)
        optional = {k: tensors[k].numpy() for k in ("benign_distances", "benign_attack_scores")
                    if k in tensors}
        return cls(means, precision, threshold, fpr, **optional)


class TrafficModel:
    """A loaded model directory: tokenizer, classifier, labels, calibration; with
    ``adapter``, a site adapter's updates merged in and its site calibration in use."""

    def __init__(self, directory: str | Path, adapter: str | Path | None = None) -> None:
        self.directory = Path(directory)
        self._check_files()
        config = check_config(self.directory)
        check_weights(self.directory, config)
        self.tokenizer = self._tokenizer(config["max_position_embeddings"])
        self.labels = check_labels(self.directory, BENIGN)
        self.classifier = self._classifier()
        self.calibration = Calibration.load(self.directory, config["hidden_size"])
        self.adapter: Path | None = None
        self.site: tuple[SiteGate, BaseHead] | None = None  # with an adapter: where it decides
        self.scorer = self.classifier  # what predict runs; an int8 copy after quantize()
        if adapter is not None:
            self.adapter = Path(adapter)
            check_adapter(self.adapter, self.directory)
            base_head = BaseHead(self.classifier)
            self.use_site_adapter(apply_adapter(self.classifier, self.adapter),
                                  Calibration.load(self.adapter, config["hidden_size"]),
                                  SiteGate.load(self.adapter, self.calibration.precision),
                                  base_head)

    def use_site_adapter(self, classifier, calibration: Calibration, gate: SiteGate,
                         base_head: BaseHead) -> None:
        """Score with an adapter: its merged classifier and open set, the base head beyond its
        gate (``adapt`` judges the adapter it has just fitted this way, before writing it)."""
        self.classifier = self.scorer = classifier
        self.calibration, self.site = calibration, (gate, base_head)

    @property
    def metadata(self) -> dict[str, list[str]]:
        """What EVE alerts name in ``alert.metadata``: the model, and the site adapter."""
        names = {"model": [self.directory.name]}
        if self.adapter is not None:
            names["adapter"] = [self.adapter.name]
        return names

    def _tokenizer(self, positions: int) -> TrafficTokenizer:
        try:
            tokenizer = TrafficTokenizer.from_pretrained(self.directory)
        except TokenizerError as err:
            raise ModelError(str(err)) from None
        if tokenizer.config.max_length > positions:
            raise ModelError(f"{self.directory}: the tokenizer makes up to "
                             f"{tokenizer.config.max_length} tokens but the encoder has "
                             f"{positions} positions")
        return tokenizer

    def quantize(self) -> None:
        """Score with an int8 dynamically quantised copy of the Linear layers (faster on
        CPU); attributions keep the fp32 model, whose gradients they need."""
        import copy
        import warnings

        from torch.ao.quantization import quantize_dynamic

        with warnings.catch_warnings():  # torch marks its quantised tensors deprecated
            warnings.simplefilter("ignore")
            self.scorer = quantize_dynamic(copy.deepcopy(self.classifier), {torch.nn.Linear},
                                           dtype=torch.qint8)

    def _check_files(self) -> None:
        if not self.directory.is_dir():
            raise ModelError(f"{self.directory}: no such model directory")
        pickled = [p.name for p in self.directory.iterdir()
                   if p.suffix in (".bin", ".pt", ".pth", ".pkl", ".ckpt")]
        if pickled:
            raise ModelError(f"{self.directory}: holds pickled weights ({pickled[0]}); "
                             "TrafficLM only reads safetensors")
        for name in ("config.json", "model.safetensors", "tokenizer_config.json", "labels.json",
                     "calibration.json", "calibration.safetensors"):
            if not (self.directory / name).is_file():
                raise ModelError(f"{self.directory}: missing {name}")

    def _classifier(self):
        from transformers import BertForSequenceClassification
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # stderr is for TrafficLM's own messages
        try:
            model = BertForSequenceClassification.from_pretrained(
                self.directory, use_safetensors=True, local_files_only=True)
        except Exception as err:  # an untrusted config.json can fail in many ways
            raise ModelError(f"{self.directory}: cannot load the model: "
                             f"{type(err).__name__}: {err}") from None
        if model.config.num_labels != len(self.labels):
            raise ModelError(f"{self.directory}: config has {model.config.num_labels} classes "
                             f"but labels.json lists {len(self.labels)}")
        if model.config.vocab_size != self.tokenizer.vocab_size:
            raise ModelError(f"{self.directory}: model vocabulary ({model.config.vocab_size}) "
                             f"does not match its tokenizer ({self.tokenizer.vocab_size})")
        check_finite(self.directory, model)
        return model.eval()

    @torch.no_grad()
    def predict(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(class probabilities [n, classes], open-set distance [n]) for token id rows."""
        if len(ids) == 0:
            return np.zeros((0, len(self.labels))), np.zeros(0)
        probs, embeddings = classify(self.scorer, ids)
        distance = self.calibration.distance(embeddings)
        if self.site is not None:  # the adapter decides near the site, the base head elsewhere
            return gated(probs, distance, embeddings, *self.site, self.calibration.threshold)
        return probs, distance


@torch.no_grad()
def classify(classifier, ids: np.ndarray,
             batch_size: int = SCORING_BATCH) -> tuple[np.ndarray, np.ndarray]:
    """Class probabilities and [CLS] embeddings of token id rows, in eval mode, input order."""
    was_training = classifier.training
    classifier.eval()
    rows, probs, embeddings = [], [], []
    for batch in length_batches(ids, batch_size):
        logits, cls = forward(classifier, ids[batch])
        rows.append(batch)
        probs.append(torch.softmax(logits, dim=-1).numpy())
        embeddings.append(cls.numpy())
    classifier.train(was_training)
    order = np.argsort(np.concatenate(rows))
    return np.concatenate(probs)[order], np.concatenate(embeddings)[order]


def length_batches(ids: np.ndarray, batch_size: int,
                   rng: np.random.Generator | None = None) -> list[np.ndarray]:
    """Batches of flows of similar token length, in random order when ``rng`` is given.

    Scans and floods are a few dozen tokens, web sessions hundreds: batching
    them apart saves most of the padding (each batch is cut to its longest row).
    """
    lengths = (ids != V.PAD).sum(axis=1)
    ties = rng.random(len(ids)) if rng is not None else np.arange(len(ids))
    order = np.lexsort((ties, lengths))
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    if rng is not None:
        batches = [batches[i] for i in rng.permutation(len(batches))]
    return batches



def forward(classifier, ids: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits and [CLS] embeddings; padding columns shared by the whole batch are cut off."""
    width = max(1, int((ids != V.PAD).sum(axis=1).max()))
    batch = torch.from_numpy(np.ascontiguousarray(ids[:, :width]).astype(np.int64))
    out = classifier(input_ids=batch, attention_mask=(batch != V.PAD).long(),
                     output_hidden_states=True)
    return out.logits, out.hidden_states[-1][:, 0]

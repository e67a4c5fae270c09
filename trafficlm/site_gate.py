"""Where a site adapter's verdict applies: near the site's own traffic, and nowhere else.

An adapter is fitted on one network's normal traffic (and its analysts'
marks). Its head has only seen that network and a small rehearsal set, so
on traffic unlike the site (another network's, an attack the site never
had) it can forget what the base head knew. The gate keeps the adapter to
its ground: a flow whose [CLS] embedding lies within ``radius`` (Mahalanobis,
the base model's shared precision) of a site centre gets the adapted head's
verdict, every other flow the base head's, so on other networks the adapted
model scores as the base model does. The encoder is shared (the adapter
leaves it as it is), so the base head costs one small matrix product.

The centres are k-means centroids of the fitted benign site flows, of the
ones the base model alerted on (the look-alikes the adapter is for: too few
to earn a centroid of their own otherwise), and the embeddings of the
sequences analysts marked. The radius covers the site's held-out benign
flows at the base model's false-positive rate. The same radius bounds what
the site adds to the open set: a flow inside the gate is like the site, so
not unlike training; outside it the base model's distance and threshold
decide alone. (Extending the open set by the base threshold around each site
centre instead covered far more: slow DoS flows that only the open set
caught were then called ordinary.)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from trafficlm.model_files import ModelError, read_json

GATE_FILES = ("site_gate.json", "site_gate.safetensors")


def nearest_distance(embeddings: np.ndarray, centres: np.ndarray,
                     precision: np.ndarray) -> np.ndarray:
    """Mahalanobis distance of each embedding to its nearest centre, as
    e·P·e - 2·e·P·m + m·P·m: memory grows with flows × centres, not × width too."""
    e, m = embeddings.astype(np.float64), centres.astype(np.float64)
    projected = e @ precision
    d2 = ((projected * e).sum(axis=1)[:, None] - 2 * projected @ m.T
          + ((m @ precision) * m).sum(axis=1)[None, :])
    return np.sqrt(np.maximum(d2.min(axis=1), 0))


@dataclass
class SiteGate:
    """The site's centres and the radius within which the adapted head decides."""

    centres: np.ndarray  # [k, hidden]
    precision: np.ndarray  # [hidden, hidden], the base model's
    radius: float

    def distance(self, embeddings: np.ndarray) -> np.ndarray:
        """Each flow's distance to the nearest site centre."""
        if len(embeddings) == 0:
            return np.zeros(0)
        return nearest_distance(embeddings, self.centres, self.precision)

    def inside(self, embeddings: np.ndarray) -> np.ndarray:
        """Which flows are near enough to the site for the adapter's verdict."""
        return self.distance(embeddings) <= self.radius

    def save(self, directory: Path) -> None:
        save_file({"centres": torch.from_numpy(np.asarray(self.centres, np.float32))},
                  str(directory / "site_gate.safetensors"))
        (directory / "site_gate.json").write_text(json.dumps(
            {"radius": self.radius, "centres": len(self.centres),
             "distance": "Mahalanobis to the nearest site centre, the base model's precision"},
            indent=1), encoding="utf-8")

    @classmethod
    def load(cls, directory: Path, precision: np.ndarray) -> SiteGate:
        """The gate of an adapter directory, checked to fit the base model's width."""
        path = directory / "site_gate.safetensors"
        try:
            centres = load_file(str(path))["centres"].numpy()
        except Exception as err:  # safetensors raises its own errors, KeyError, OSError
            raise ModelError(f"{path}: not a readable site gate: {err!r}") from None
        if centres.ndim != 2 or centres.shape[1] != precision.shape[0] or not len(centres):
            raise ModelError(f"{path}: centres of shape {tuple(centres.shape)}, but the "
                             f"model's embeddings are {precision.shape[0]} wide")
        if not np.isfinite(centres).all():
            raise ModelError(f"{path}: holds NaN or infinite values")
        radius = read_json(directory / "site_gate.json").get("radius")
        if not isinstance(radius, int | float) or not np.isfinite(radius) or radius < 0:
            raise ModelError(f"{directory / 'site_gate.json'}: radius {radius!r} is not a "
                             "distance")
        return cls(centres, precision, float(radius))


def gate_radius(centres: np.ndarray, precision: np.ndarray, held_out: np.ndarray,
                fpr: float) -> float:
    """The distance within which ``1 - fpr`` of the site's held-out benign flows lie."""
    return float(np.quantile(nearest_distance(held_out, centres, precision), 1 - fpr))


class BaseHead(torch.nn.Module):
    """The base model's pooler and classifier, kept beside an adapter: logits from a [CLS]
    embedding (BERT's pooler reads only the first token)."""

    def __init__(self, classifier) -> None:
        super().__init__()
        import copy

        self.pooler = copy.deepcopy(classifier.bert.pooler).eval()
        self.classifier = copy.deepcopy(classifier.classifier).eval()

    @torch.no_grad()
    def probabilities(self, embeddings: np.ndarray) -> np.ndarray:
        first = torch.from_numpy(np.ascontiguousarray(embeddings, np.float32))
        pooled = self.pooler.activation(self.pooler.dense(first))
        return torch.softmax(self.classifier(pooled), dim=-1).numpy()


def gated(probs: np.ndarray, distance: np.ndarray, embeddings: np.ndarray, gate: SiteGate,
          base: BaseHead, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """(probabilities, open-set distance) with the site gate applied: the adapted
    probabilities where it is open, the base head's elsewhere; and a flow inside it is
    never unlike training (its site distance, scaled so the radius meets the threshold,
    caps the base distance), while outside it the base distance stands."""
    site = gate.distance(embeddings)
    outside = site > gate.radius
    if outside.any():
        probs = probs.copy()
        probs[outside] = base.probabilities(embeddings[outside])
    return probs, np.minimum(distance, site * (threshold / max(gate.radius, 1e-9)))

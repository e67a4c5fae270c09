"""Classification and detection metrics, computed the same way for the model and baselines."""

from __future__ import annotations

import numpy as np

BENIGN = "BENIGN"


def per_class(truth: np.ndarray, predicted: np.ndarray, labels: list[str]) -> dict[str, dict]:
    out = {}
    for label in labels:
        tp = int(((predicted == label) & (truth == label)).sum())
        fp = int(((predicted == label) & (truth != label)).sum())
        fn = int(((predicted != label) & (truth == label)).sum())
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        out[label] = {"precision": round(precision, 4), "recall": round(recall, 4),
                      "f1": round(f1, 4), "support": int((truth == label).sum())}
    return out


def macro_f1(truth: np.ndarray, predicted: np.ndarray) -> float:
    """Mean F1 over the classes present in ``truth``."""
    labels = sorted(set(truth))
    if not labels:
        return 0.0
    return float(np.mean([per_class(truth, predicted, [label])[label]["f1"] for label in labels]))


def confusion(truth: np.ndarray, predicted: np.ndarray, labels: list[str]) -> np.ndarray:
    index = {label: i for i, label in enumerate(labels)}
    matrix = np.zeros((len(labels), len(labels)), np.int64)
    for t, p in zip(truth, predicted, strict=True):
        if t in index and p in index:
            matrix[index[t], index[p]] += 1
    return matrix


def detection_at_fpr(attack_score: np.ndarray, is_attack: np.ndarray, fpr: float) -> dict:
    """Share of attack flows scored above the threshold that lets ``fpr`` of benign flows pass."""
    benign = attack_score[~is_attack]
    if len(benign) == 0 or not is_attack.any():
        return {"fpr": fpr, "threshold": None, "detection_rate": None, "benign_flows": len(benign)}
    threshold = float(np.quantile(benign, 1 - fpr, method="higher"))
    return {"fpr": fpr, "threshold": threshold,
            "detection_rate": round(float((attack_score[is_attack] > threshold).mean()), 4),
            "achieved_fpr": round(float((benign > threshold).mean()), 5),
            "benign_flows": len(benign)}


def reorder_columns(probs: np.ndarray, have: list, want: list[str]) -> np.ndarray:
    """Probability columns for classes ``have`` re-laid for ``want`` (missing classes: 0)."""
    out = np.zeros((len(probs), len(want)))
    for column, label in enumerate(have):
        if label in want:
            out[:, want.index(label)] = probs[:, column]
    return out

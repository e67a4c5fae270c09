"""The shallow baselines every result is printed beside, on the same split.

k-NN on packet size/direction/timing sequences ("When Simple Model Just
Works", 2025) and a random forest on flow statistics (the CICFlowMeter
tradition). A traffic model that cannot beat these has learned nothing extra.
"""

from __future__ import annotations

import numpy as np

from trafficlm.training.datasets.flowset import FlowSet
from trafficlm.training.metrics import reorder_columns


def knn(train: FlowSet, neighbours: int):
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), KNeighborsClassifier(n_neighbors=neighbours))
    return model.fit(train.sequence_features, train.labels.astype(str))


def forest(train: FlowSet, trees: int, seed: int):
    from sklearn.ensemble import RandomForestClassifier

    model = RandomForestClassifier(n_estimators=trees, random_state=seed, n_jobs=-1,
                                   class_weight="balanced")
    return model.fit(train.flow_features, train.labels.astype(str))


def baseline_probabilities(model, features: np.ndarray, labels: list[str]) -> np.ndarray:
    """predict_proba re-ordered to ``labels`` (classes a baseline never saw get 0)."""
    return reorder_columns(model.predict_proba(features), list(model.classes_), labels)

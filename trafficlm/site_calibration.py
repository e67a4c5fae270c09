"""A site adapter's centres and open-set statistics.

A site adapter leaves the encoder as it is (its LoRA sits on the pooler, with
a new head), so the [CLS] embeddings, and the base model's class means,
covariance and threshold, keep their meaning and stay as they are. What the
site adds are centres: k-means centroids of its benign flows' embeddings,
which the site gate (``site_gate``) uses to tell where the adapter decides
and where a flow is like the site rather than unlike training. Its held-out
benign flows replace the base model's validation scores, so ``--fpr`` picks a
rate on the site's own traffic.
"""

from __future__ import annotations

import numpy as np

from trafficlm.model import Calibration

SITE_CENTROIDS = 64  # at most; fewer for a small site (one per 20 flows)
LOOKALIKE_CENTROIDS = 32  # at most, over the site flows the base model alerted on (one per 5)
MARKED_CENTROIDS = 32  # at most, over the sequences analysts marked false positives
KMEANS_ROUNDS = 10


def site_centres(site: np.ndarray, lookalikes: np.ndarray, marked: np.ndarray,
                 seed: int = 0) -> np.ndarray:
    """Centroids of the site's fitted benign embeddings, and apart from them of its
    look-alikes (benign flows the base model alerted on) and of the analysts' false
    positives: the few flows an adapter is for would otherwise share a centroid with
    thousands of ordinary ones and lie outside the site."""
    rng = np.random.default_rng(seed)
    parts = [kmeans(site, max(1, min(SITE_CENTROIDS, len(site) // 20)), rng)]
    for points, most, per in ((lookalikes, LOOKALIKE_CENTROIDS, 5), (marked, MARKED_CENTROIDS, 1)):
        if len(points):
            parts.append(kmeans(points, max(1, min(most, len(points) // per)), rng))
    return np.concatenate(parts)


def site_calibration(base: Calibration, held_out_distances: np.ndarray,
                     held_out_attack_scores: np.ndarray) -> Calibration:
    """The base calibration, its means, covariance and threshold as they were, with the
    site's held-out benign flows as the scores ``--fpr`` picks a rate from (their distances
    with the site gate applied)."""
    return Calibration(base.means, base.precision, base.threshold, base.fpr,
                       np.sort(held_out_distances), np.sort(held_out_attack_scores))


def kmeans(points: np.ndarray, k: int, rng: np.random.Generator,
           rounds: int = KMEANS_ROUNDS) -> np.ndarray:
    """``k`` centres of ``points`` (Lloyd's algorithm from a random draw of them); a centre
    left without members keeps its place."""
    points = points.astype(np.float64)
    centres = points[rng.choice(len(points), size=min(k, len(points)), replace=False)].copy()
    squared = (points * points).sum(axis=1)[:, None]
    for _ in range(rounds):
        nearest = (squared - 2 * points @ centres.T + (centres * centres).sum(axis=1)).argmin(1)
        for j in range(len(centres)):
            members = points[nearest == j]
            if len(members):
                centres[j] = members.mean(axis=0)
    return centres

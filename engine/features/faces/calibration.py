"""Know your threshold: genuine/impostor distances of a gallery, its ROC, EER and the
threshold for a chosen false-accept rate.

Pairs: every two shots of one person are a *genuine* pair, every two shots of different
people an *impostor* pair. A threshold t accepts a pair when its distance <= t, so

    FAR(t) = share of impostor pairs with distance <= t   (false accepts)
    FRR(t) = share of genuine pairs with distance > t     (false rejects)

The ROC is evaluated at every distinct distance (and below the smallest one), so it is
exact, not binned. The equal error rate is where FAR and FRR cross: between two
consecutive thresholds one of them falls and the other rises step-wise; we return the
threshold where |FAR - FRR| is smallest and EER = (FAR + FRR) / 2 there (exact when the
two rates meet at a step, as they do on any data with a clean crossing).
``threshold_at_far(f)``: the largest threshold whose FAR does not exceed f.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

log = logging.getLogger(__name__)


class CalibrationError(ValueError):
    """Not enough data to calibrate (the message says what is missing)."""


def pair_distances(vectors: np.ndarray, labels: np.ndarray, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """(genuine, impostor) distances of all unordered pairs of rows -> two float64 arrays."""
    v = np.asarray(vectors, np.float64)
    labels = np.asarray(labels)
    n = len(v)
    if metric == "l2" or metric == "euclidean":
        sq = (v ** 2).sum(1)
        d = np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2 * v @ v.T, 0.0))
    elif metric == "cosine":
        d = np.maximum(1.0 - v @ v.T, 0.0)
    else:
        raise ValueError(f"unknown metric '{metric}'")
    iu, ju = np.triu_indices(n, k=1)
    same = labels[iu] == labels[ju]
    pairs = d[iu, ju]
    return pairs[same], pairs[~same]


@dataclass(frozen=True)
class Calibration:
    """genuine/impostor: pair distances; thresholds (T,) ascending with far/frr (T,) at each."""

    genuine: np.ndarray
    impostor: np.ndarray
    thresholds: np.ndarray
    far: np.ndarray
    frr: np.ndarray
    eer: float
    eer_threshold: float

    def threshold_at_far(self, far: float) -> float:
        """The largest threshold whose false-accept rate is at most ``far`` (0..1)."""
        ok = np.nonzero(self.far <= far + 1e-12)[0]
        return float(self.thresholds[ok[-1]]) if len(ok) else float(self.thresholds[0])

    def rates_at(self, threshold: float) -> tuple[float, float]:
        """(FAR, FRR) at ``threshold``."""
        far = float((self.impostor <= threshold).mean())
        frr = float((self.genuine > threshold).mean())
        return far, frr

    def histograms(self, bins: int = 40) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(edges (bins + 1,), genuine counts, impostor counts) over a common range."""
        both = np.concatenate([self.genuine, self.impostor])
        lo, hi = float(both.min()), float(both.max())
        edges = np.linspace(lo, hi if hi > lo else lo + 1e-6, bins + 1)
        return edges, np.histogram(self.genuine, edges)[0], np.histogram(self.impostor, edges)[0]

    def as_dict(self, far_targets=(0.001, 0.01, 0.1)) -> dict:
        return {
            "genuine_pairs": int(len(self.genuine)), "impostor_pairs": int(len(self.impostor)),
            "eer": self.eer, "eer_threshold": self.eer_threshold,
            "threshold_at_far": {str(f): self.threshold_at_far(f) for f in far_targets},
        }


def calibrate(genuine: np.ndarray, impostor: np.ndarray) -> Calibration:
    """The ROC of two sets of distances; CalibrationError when either set is empty."""
    genuine = np.sort(np.asarray(genuine, np.float64))
    impostor = np.sort(np.asarray(impostor, np.float64))
    if len(genuine) == 0:
        raise CalibrationError("no genuine pairs: enrol at least two shots of one person")
    if len(impostor) == 0:
        raise CalibrationError("no impostor pairs: calibration needs at least two people in the gallery "
                               "(enrol someone else too)")
    values = np.unique(np.concatenate([genuine, impostor]))
    below = np.nextafter(values[0], -np.inf)
    thresholds = np.concatenate([[below], values])
    far = np.searchsorted(impostor, thresholds, side="right") / len(impostor)
    frr = 1.0 - np.searchsorted(genuine, thresholds, side="right") / len(genuine)
    gap = np.abs(far - frr)
    i = int(np.argmin(gap))
    return Calibration(genuine, impostor, thresholds, far, frr, float((far[i] + frr[i]) / 2), float(thresholds[i]))


def calibrate_gallery(gallery, embedder_name: str, metric: str) -> Calibration:
    """Calibration from every stored vector of ``embedder_name`` in ``gallery``."""
    _, people, vectors = gallery.vectors(embedder_name)
    if len(vectors) == 0:
        raise CalibrationError(f"the gallery has no {embedder_name} embeddings yet: enrol people first")
    if len(set(int(p) for p in people)) < 2:
        raise CalibrationError("only one person is enrolled: impostors are needed — enrol at least one other "
                               "person to measure false accepts")
    genuine, impostor = pair_distances(vectors, people, metric)
    return calibrate(genuine, impostor)

"""Split-conformal thresholds: a false-positive rate that holds on fresh normal data."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ConformalThreshold:
    """Threshold on anomaly scores (higher = more anomalous) calibrated on normal data.

    With ``n`` calibration scores of normal data and target false-positive rate ``alpha``, the
    threshold is the ``k``-th smallest calibration score, ``k = ceil((n + 1)(1 - alpha))``. For a
    new normal score exchangeable with the calibration scores, ``P(score > threshold) <= alpha``
    (Vovk et al. 2005; Angelopoulos & Bates 2021). The p-value of a score ``s`` is
    ``(1 + #{cal >= s}) / (n + 1)``; small p-values mean unusual under the normal data.
    """

    calibration: np.ndarray  # sorted ascending
    target_fpr: float
    threshold: float

    @staticmethod
    def min_calibration(target_fpr: float) -> int:
        """The fewest calibration scores that can certify ``target_fpr``."""
        return math.ceil(1.0 / target_fpr) - 1

    @classmethod
    def fit(cls, normal_scores: np.ndarray, target_fpr: float) -> ConformalThreshold:
        scores = np.sort(np.asarray(normal_scores, dtype=np.float64).ravel())
        if not 0.0 < target_fpr < 1.0:
            raise ValueError(f"target_fpr must be in (0, 1), got {target_fpr}")
        if not np.isfinite(scores).all():
            raise ValueError("calibration scores contain NaN or Inf")
        n = scores.size
        k = math.ceil((n + 1) * (1.0 - target_fpr))
        if k > n:
            need = cls.min_calibration(target_fpr)
            raise ValueError(
                f"{n} calibration scores cannot certify a false-positive rate of {target_fpr}: "
                f"need at least {need}"
            )
        return cls(calibration=scores, target_fpr=float(target_fpr), threshold=float(scores[k - 1]))

    @classmethod
    def at(cls, normal_scores: np.ndarray, threshold: float) -> ConformalThreshold:
        """A threshold set by hand over the same calibration scores; its ``target_fpr`` is the
        rate it promises (:meth:`promised_fpr`)."""
        scores = np.sort(np.asarray(normal_scores, dtype=np.float64).ravel())
        if not math.isfinite(threshold):
            raise ValueError(f"a threshold must be a finite number, got {threshold}")
        if scores.size == 0 or not np.isfinite(scores).all():
            raise ValueError("a threshold needs finite calibration scores")
        above = int(scores.size - np.searchsorted(scores, threshold, side="right"))
        promised = (above + 1.0) / (scores.size + 1.0)
        return cls(calibration=scores, target_fpr=min(promised, 1.0), threshold=float(threshold))

    def promised_fpr(self) -> float:
        """The false-positive rate the threshold guarantees on normal images exchangeable with
        the calibration ones: ``(m + 1) / (n + 1)`` with ``m`` of ``n`` calibration scores above
        it (at most ``target_fpr`` for a fitted threshold)."""
        n = self.calibration.size
        above = int(n - np.searchsorted(self.calibration, self.threshold, side="right"))
        return (above + 1.0) / (n + 1.0)

    def p_values(self, scores: np.ndarray) -> np.ndarray:
        """Conformal p-values ``(n_scores,)`` in ``(0, 1]``."""
        s = np.asarray(scores, dtype=np.float64)
        n = self.calibration.size
        n_at_least = n - np.searchsorted(self.calibration, s, side="left")
        return (1.0 + n_at_least) / (n + 1.0)

    def flag(self, scores: np.ndarray) -> np.ndarray:
        """Boolean anomaly flags: score strictly above the threshold."""
        return np.asarray(scores, dtype=np.float64) > self.threshold

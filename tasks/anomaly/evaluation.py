"""From scores to decisions and metrics: the shared evaluation of every detector."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from tasks.anomaly.metrics import detection_metrics, validation_auroc
from tasks.anomaly.threshold import ConformalThreshold


@dataclass(frozen=True)
class DetectionResult:
    """Outcome of one detector on one split.

    Attributes:
        method: detector name (model + score, or baseline).
        metrics: see :func:`tasks.anomaly.metrics.detection_metrics`, plus ``threshold``,
            ``val_auroc`` where the validation split holds anomalies, and ``synthetic_auroc``
            where synthetic anomalies were scored.
        per_sample: one row per test image: id, label, is_anomaly, score, p_value, flagged.
        threshold: the calibrated threshold (carries the calibration scores).
    """

    method: str
    metrics: dict[str, float]
    per_sample: pd.DataFrame
    threshold: ConformalThreshold


def evaluate_detector(
    method: str,
    val_scores: np.ndarray,
    test_scores: np.ndarray,
    test_is_anomaly: np.ndarray,
    target_fpr: float,
    test_ids: tuple[str, ...] = (),
    test_labels: np.ndarray | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    val_anomalous_scores: np.ndarray | None = None,
    synthetic_scores: np.ndarray | None = None,
) -> DetectionResult:
    """Calibrate on normal validation scores, decide and measure on the test scores; with the
    validation split's anomalous images' scores, also their AUROC against the normal ones
    (``val_auroc``), and likewise for synthetic anomalies made from the normal validation images
    (``synthetic_auroc``)."""
    threshold = ConformalThreshold.fit(val_scores, target_fpr)
    flags = threshold.flag(test_scores)
    metrics = detection_metrics(test_is_anomaly, test_scores, flags, n_boot=n_boot, seed=seed)
    metrics["threshold"] = threshold.threshold
    if val_anomalous_scores is not None:
        metrics["val_auroc"] = validation_auroc(val_scores, val_anomalous_scores)
    if synthetic_scores is not None:
        metrics["synthetic_auroc"] = validation_auroc(val_scores, synthetic_scores)
    per_sample = pd.DataFrame(
        {
            "id": list(test_ids) if test_ids else np.arange(len(test_scores)),
            "label": test_labels if test_labels is not None else -1,
            "is_anomaly": np.asarray(test_is_anomaly, dtype=bool),
            "score": np.asarray(test_scores, dtype=np.float64),
            "p_value": threshold.p_values(test_scores),
            "flagged": flags,
        }
    )
    return DetectionResult(method, metrics, per_sample, threshold)

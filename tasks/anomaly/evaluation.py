"""From scores to decisions and metrics: the shared evaluation of every detector."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from tasks.anomaly.corruptions import GLOBAL, LOCAL
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


def _per_kind(
    normal: np.ndarray, synthetic: np.ndarray, kinds: tuple[str, ...]
) -> dict[str, float]:
    """AUROC of each kind of synthetic anomaly, and of the local and the global kinds together."""
    if not kinds:
        return {}
    labels = np.asarray(kinds)
    out = {
        f"synthetic_auroc.{kind}": validation_auroc(normal, synthetic[labels == kind])
        for kind in dict.fromkeys(kinds)
    }
    for group, members in (("local", LOCAL), ("global", GLOBAL)):
        chosen = np.isin(labels, members)
        if chosen.any():
            out[f"synthetic_{group}_auroc"] = validation_auroc(normal, synthetic[chosen])
    per_kind = [v for k, v in out.items() if k.startswith("synthetic_auroc.")]
    out["synthetic_mean_kind_auroc"] = float(np.mean(per_kind))
    out["synthetic_worst_kind_auroc"] = float(np.min(per_kind))
    return out


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
    synthetic_kinds: tuple[str, ...] = (),
) -> DetectionResult:
    """Calibrate on normal validation scores, decide and measure on the test scores; with the
    validation split's anomalous images' scores, also their AUROC against the normal ones
    (``val_auroc``), and likewise for synthetic anomalies made from the normal validation images
    (``synthetic_auroc``; with their ``synthetic_kinds``, also per kind,
    ``synthetic_auroc.<kind>``, and over the local and the global kinds)."""
    threshold = ConformalThreshold.fit(val_scores, target_fpr)
    flags = threshold.flag(test_scores)
    metrics = detection_metrics(test_is_anomaly, test_scores, flags, n_boot=n_boot, seed=seed)
    metrics["threshold"] = threshold.threshold
    if val_anomalous_scores is not None:
        metrics["val_auroc"] = validation_auroc(val_scores, val_anomalous_scores)
    if synthetic_scores is not None:
        metrics["synthetic_auroc"] = validation_auroc(val_scores, synthetic_scores)
        metrics.update(_per_kind(val_scores, synthetic_scores, synthetic_kinds))
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

"""Detection metrics with bootstrap confidence intervals. Anomaly is the positive class."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve


def fpr_at_tpr(is_anomaly: np.ndarray, scores: np.ndarray, tpr: float = 0.95) -> float:
    """False-positive rate at the first threshold reaching the given true-positive rate."""
    fpr, tprs, _ = roc_curve(is_anomaly, scores)
    return float(fpr[np.searchsorted(tprs, tpr, side="left")])


def bootstrap_ci(
    is_anomaly: np.ndarray,
    scores: np.ndarray,
    metric: str = "auroc",
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap CI of AUROC or AUPRC, resampling within each class."""
    fn = roc_auc_score if metric == "auroc" else average_precision_score
    values = [fn(is_anomaly[i], scores[i]) for i in _class_resamples(is_anomaly, n_boot, seed)]
    return _percentile_interval(values, level)


def _percentile_interval(values: list[float], level: float) -> tuple[float, float]:
    lo, hi = np.quantile(np.asarray(values), [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def _class_resamples(is_anomaly: np.ndarray, n_boot: int, seed: int) -> Iterator[np.ndarray]:
    """Bootstrap index sets that resample anomalies and normals separately (fixed class sizes)."""
    rng = np.random.default_rng(seed)
    pos, neg = np.flatnonzero(is_anomaly), np.flatnonzero(~is_anomaly)
    for _ in range(n_boot):
        yield np.concatenate([rng.choice(pos, pos.size), rng.choice(neg, neg.size)])


def paired_auroc_difference(
    is_anomaly: np.ndarray,
    scores: np.ndarray,
    reference_scores: np.ndarray,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float, float]:
    """AUROC of ``scores`` minus AUROC of ``reference_scores`` on the same images, with a
    percentile bootstrap interval: both detectors are scored on each resample, so the interval
    reflects how differently they rank the same images, not each one's own sampling spread.

    Returns ``(difference, low, high)``; positive means ``scores`` detects better.
    """
    y = np.asarray(is_anomaly, dtype=bool)
    a, b = np.asarray(scores, np.float64), np.asarray(reference_scores, np.float64)
    if a.shape != y.shape or b.shape != y.shape:
        raise ValueError(
            f"scores {a.shape} and reference scores {b.shape} must match the labels {y.shape}"
        )
    values = [
        roc_auc_score(y[i], a[i]) - roc_auc_score(y[i], b[i])
        for i in _class_resamples(y, n_boot, seed)
    ]
    lo, hi = _percentile_interval(values, level)
    return float(roc_auc_score(y, a) - roc_auc_score(y, b)), lo, hi


def validation_auroc(normal_scores: np.ndarray, anomalous_scores: np.ndarray) -> float:
    """AUROC of normal against anomalous *validation* scores: the number that chooses a detector
    without looking at the test split."""
    normal = np.asarray(normal_scores, dtype=np.float64)
    anomalous = np.asarray(anomalous_scores, dtype=np.float64)
    if normal.size == 0 or anomalous.size == 0:
        raise ValueError(
            f"a validation AUROC needs normal and anomalous scores, got {normal.size} and "
            f"{anomalous.size}"
        )
    both = np.concatenate([normal, anomalous])
    if not np.isfinite(both).all():
        raise ValueError(f"{int((~np.isfinite(both)).sum())} validation scores are NaN or Inf")
    truth = np.concatenate([np.zeros(normal.size, bool), np.ones(anomalous.size, bool)])
    return float(roc_auc_score(truth, both))


def detection_metrics(
    is_anomaly: np.ndarray,
    scores: np.ndarray,
    flags: np.ndarray,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, float]:
    """AUROC (with 95% CI), AUPRC, FPR at 95% TPR, and achieved FPR/TPR of the given flags.

    Without anomalous examples (normal data only) only the achieved FPR is defined and returned.

    Args:
        is_anomaly: ``(N,)`` bool, the truth.
        scores: ``(N,)`` anomaly scores, higher = more anomalous.
        flags: ``(N,)`` bool, the thresholded decision.
    """
    y = np.asarray(is_anomaly, dtype=bool)
    s = np.asarray(scores, dtype=np.float64)
    f = np.asarray(flags, dtype=bool)
    if y.all():
        raise ValueError("the test set needs normal examples")
    if not np.isfinite(s).all():
        raise ValueError(f"{int((~np.isfinite(s)).sum())} anomaly scores are NaN or Inf")
    if not y.any():
        return {"fpr_at_threshold": float(f.mean())}
    lo, hi = bootstrap_ci(y, s, "auroc", n_boot=n_boot, seed=seed)
    return {
        "auroc": float(roc_auc_score(y, s)),
        "auroc_ci_low": lo,
        "auroc_ci_high": hi,
        "auprc": float(average_precision_score(y, s)),
        "fpr_at_95tpr": fpr_at_tpr(y, s, 0.95),
        "fpr_at_threshold": float(f[~y].mean()),
        "tpr_at_threshold": float(f[y].mean()),
    }

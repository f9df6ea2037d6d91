"""Does a model score earn its place? Each detector against the best baseline of the same run,
paired on the same test images."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from tasks.anomaly.evaluation import DetectionResult
from tasks.anomaly.metrics import paired_auroc_difference

GAIN_COLUMNS = ("best_baseline", "auroc_gain", "auroc_gain_ci_low", "auroc_gain_ci_high")


def gains_over_best_baseline(
    detectors: Sequence[DetectionResult],
    baselines: Sequence[DetectionResult],
    is_anomaly: np.ndarray,
    n_boot: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """One row per detector: its AUROC minus that of the baseline with the highest AUROC, with a
    paired bootstrap interval (:func:`~tasks.anomaly.metrics.paired_auroc_difference`).

    The best baseline is picked on the test split itself, which favours the baseline: a detector
    whose interval lies above zero beats every baseline even after that choice. Empty without
    baselines.
    """
    if not baselines:
        return pd.DataFrame(columns=["method", *GAIN_COLUMNS])
    best = max(baselines, key=lambda r: r.metrics["auroc"])
    reference = best.per_sample["score"].to_numpy()
    rows = []
    for result in detectors:
        gain, lo, hi = paired_auroc_difference(
            is_anomaly, result.per_sample["score"].to_numpy(), reference, n_boot, seed=seed
        )
        rows.append(
            {
                "method": result.method,
                "best_baseline": best.method,
                "auroc_gain": gain,
                "auroc_gain_ci_low": lo,
                "auroc_gain_ci_high": hi,
            }
        )
    return pd.DataFrame(rows, columns=["method", *GAIN_COLUMNS])

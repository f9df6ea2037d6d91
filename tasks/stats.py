"""Small statistics shared by the task modules."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from scipy import stats


def interval_text(mean: float, low: float, high: float) -> str:
    """A signed difference and its interval as tables print them: ``+0.012 [-0.003, +0.027]``."""
    return f"{mean:+.3f} [{low:+.3f}, {high:+.3f}]"


def mean_ci(values: Iterable[float] | np.ndarray, confidence: float = 0.95) -> dict[str, float]:
    """Mean with a Student-t interval: ``{"mean", "ci_low", "ci_high"}`` (NaN bounds for n < 2)."""
    v = np.asarray(list(values) if not isinstance(values, np.ndarray) else values, np.float64)
    if len(v) == 0:
        raise ValueError("mean_ci needs at least one value")
    mean = float(v.mean())
    if len(v) < 2:
        return {"mean": mean, "ci_low": float("nan"), "ci_high": float("nan")}
    half = float(stats.t.ppf(0.5 + confidence / 2, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v)))
    return {"mean": mean, "ci_low": mean - half, "ci_high": mean + half}

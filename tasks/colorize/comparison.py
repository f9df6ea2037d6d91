"""Paired comparisons of colorization arms: every arm scores the same test images, so the
difference per image (arm minus baseline) removes the image-to-image spread that dominates the
separate intervals of the summary table.

The table answers the task's question directly: does the generative prior beat each baseline,
and is the lead outside the noise? Differences are Student-t intervals over images; ``wins`` is
the share of images on which the arm is strictly better (by the metric's own direction).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from tasks.stats import interval_text, mean_ci

#: The arms the task compares against (no learned prior over colour images, or a regression).
BASELINE_ARMS: tuple[str, ...] = ("gray", "uniform", "mean-chroma", "regressor")

#: Metrics compared: the name in the table -> (the arm's column, the baseline's column, whether
#: higher is better). ``best_of_k_psnr`` sets the best of an arm's draws against the baseline's
#: estimate (a baseline without draws has no best-of-k of its own).
PAIRED_METRICS: dict[str, tuple[str, str, bool]] = {
    "psnr": ("psnr", "psnr", True),
    "ssim": ("ssim", "ssim", True),
    "energy_score": ("energy_score", "energy_score", False),
    "best_of_k_psnr": ("best_of_k_psnr", "psnr", True),
    "colourfulness": ("colourfulness", "colourfulness", True),
    "colourfulness_gap": ("colourfulness_gap", "colourfulness_gap", False),
    "sample_colourfulness_gap": ("sample_colourfulness_gap", "sample_colourfulness_gap", False),
}


def _pooled_psnr_difference(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
    """PSNR over the set (from the pooled MSE) of ``a`` minus that of ``b``; MSEs per image."""
    pooled = [10 * np.log10(1.0 / np.maximum(m.mean(axis=axis), 1e-10)) for m in (a, b)]
    return pooled[0] - pooled[1]


def _median_difference(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.median(a, axis=axis) - np.median(b, axis=axis)


#: PSNR read over the whole set, compared by a paired bootstrap over images: the name in the
#: table -> (the per-image column it is computed from, arm minus baseline)
SET_METRICS: dict[str, tuple[str, Callable[..., np.ndarray]]] = {
    "psnr_pooled": ("mse", _pooled_psnr_difference),
    "psnr_median": ("psnr", _median_difference),
}

_COLUMNS = ["arm", "baseline", "metric", "better", "mean", "ci_low", "ci_high", "wins", "n"]


def _pairs(
    per_image: pd.DataFrame, arms: Sequence[str], baselines: Sequence[str]
) -> Iterator[tuple[str, str, pd.DataFrame, pd.DataFrame]]:
    """Every (arm, baseline) both present in ``per_image``, with their rows indexed by image;
    absent arms and baselines are skipped, and no arm meets itself."""
    present = set(per_image["arm"])
    for arm in (a for a in arms if a in present):
        mine = per_image[per_image["arm"] == arm].set_index("image")
        for base in (b for b in baselines if b in present and b != arm):
            yield arm, base, mine, per_image[per_image["arm"] == base].set_index("image")


def paired_comparison(
    per_image: pd.DataFrame,
    arms: Sequence[str],
    baselines: Sequence[str] = BASELINE_ARMS,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """One row per (arm, baseline, metric): mean of ``arm - baseline`` over the images both
    scored, its interval, and the share of images where the arm is better.

    ``per_image`` has one row per (arm, image) with an ``image`` index shared by the arms
    (:func:`tasks.colorize.experiment.run_colorize`). Arms or baselines absent from it are
    skipped, so a run with some arms switched off still compares the rest; a metric absent from
    it is skipped too.
    """
    rows = []
    for arm, base, mine, theirs in _pairs(per_image, arms, baselines):
        for metric, (column, base_column, higher) in PAIRED_METRICS.items():
            if column not in per_image.columns or base_column not in per_image.columns:
                continue
            diff = (mine[column] - theirs[base_column]).dropna()
            if diff.empty:
                continue
            better = diff > 0 if higher else diff < 0
            rows.append(
                {
                    "arm": arm,
                    "baseline": base,
                    "metric": metric,
                    "better": "higher" if higher else "lower",
                    **mean_ci(diff.to_numpy(), confidence),
                    "wins": float(better.mean()),
                    "n": len(diff),
                }
            )
    return pd.DataFrame(rows, columns=_COLUMNS)


def set_level_comparison(
    per_image: pd.DataFrame,
    arms: Sequence[str],
    baselines: Sequence[str] = BASELINE_ARMS,
    confidence: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
) -> pd.DataFrame:
    """PSNR over the set (from the pooled MSE) and the median per-image PSNR, arm minus baseline,
    with a paired percentile bootstrap over images (both arms scored on each resample, by
    :func:`scipy.stats.bootstrap`). Same columns as :func:`paired_comparison`; ``wins`` is NaN
    (a set-level number has no per-image winner)."""
    rows = []
    for arm, base, mine, theirs in _pairs(per_image, arms, baselines):
        for metric, (column, statistic) in SET_METRICS.items():
            both = pd.concat([mine[column], theirs[column]], axis=1, join="inner").dropna()
            a, b = both.iloc[:, 0].to_numpy(), both.iloc[:, 1].to_numpy()
            if len(a) < 2:
                continue
            interval = stats.bootstrap(
                (a, b),
                statistic,
                paired=True,
                vectorized=True,
                n_resamples=resamples,
                confidence_level=confidence,
                method="percentile",
                random_state=np.random.default_rng(seed),
            ).confidence_interval
            rows.append(
                {
                    "arm": arm,
                    "baseline": base,
                    "metric": metric,
                    "better": "higher",
                    "mean": float(statistic(a, b)),
                    "ci_low": float(interval.low),
                    "ci_high": float(interval.high),
                    "wins": float("nan"),
                    "n": len(a),
                }
            )
    return pd.DataFrame(rows, columns=_COLUMNS)


def describe_paired(paired: pd.DataFrame) -> list[str]:
    """The paired table as lines for the log, one per (arm, baseline, metric)."""
    lines = ["paired differences, arm - baseline over the same test images (95% t-interval):"]
    for _, r in paired.iterrows():
        lines.append(
            f"  {r['arm']} - {r['baseline']} {r['metric']} ({r['better']} is better): "
            f"{interval_text(r['mean'], r['ci_low'], r['ci_high'])}, "
            + (
                f"better on {r['wins']:.0%} of {r['n']}"
                if pd.notna(r["wins"])
                else f"over the set of {r['n']} (paired bootstrap)"
            )
        )
    return lines

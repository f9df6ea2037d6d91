"""Paired comparisons of colorization arms: every arm scores the same test images, so the
difference per image (arm minus baseline) removes the image-to-image spread that dominates the
separate intervals of the summary table.

The table answers the task's question directly: does the generative prior beat each baseline,
and is the lead outside the noise? Differences are Student-t intervals over images; ``wins`` is
the share of images on which the arm is strictly better (by the metric's own direction).
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from tasks.stats import mean_ci

#: The arms the task compares against (no learned prior over colour images, or a regression).
BASELINE_ARMS: tuple[str, ...] = ("gray", "uniform", "mean-chroma", "regressor")

#: Metrics compared, and whether higher is better.
PAIRED_METRICS: dict[str, bool] = {
    "psnr": True,
    "ssim": True,
    "colourfulness": True,
    "colourfulness_gap": False,
    "sample_colourfulness_gap": False,
}


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
    present = set(per_image["arm"])
    columns = ["arm", "baseline", "metric", "better", "mean", "ci_low", "ci_high", "wins", "n"]
    rows = []
    for arm in (a for a in arms if a in present):
        mine = per_image[per_image["arm"] == arm].set_index("image")
        for base in (b for b in baselines if b in present and b != arm):
            theirs = per_image[per_image["arm"] == base].set_index("image")
            for metric, higher in PAIRED_METRICS.items():
                if metric not in per_image.columns:
                    continue
                diff = (mine[metric] - theirs[metric]).dropna()
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
    return pd.DataFrame(rows, columns=columns)


def describe_paired(paired: pd.DataFrame) -> list[str]:
    """The paired table as lines for the log, one per (arm, baseline, metric)."""
    lines = ["paired differences, arm - baseline over the same test images (95% t-interval):"]
    for _, r in paired.iterrows():
        lines.append(
            f"  {r['arm']} - {r['baseline']} {r['metric']} ({r['better']} is better): "
            f"{r['mean']:+.3f} [{r['ci_low']:+.3f}, {r['ci_high']:+.3f}], "
            f"better on {r['wins']:.0%} of {r['n']}"
        )
    return lines

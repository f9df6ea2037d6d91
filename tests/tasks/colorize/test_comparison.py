"""Paired arm-against-baseline differences over the same test images."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tasks.colorize.comparison import paired_comparison


def _frame(arm: str, psnr: list[float], gap: list[float], images: list[int] | None = None):
    images = images if images is not None else list(range(len(psnr)))
    return pd.DataFrame(
        {"arm": arm, "image": images, "psnr": psnr, "colourfulness_gap": gap, "seconds": 1.0}
    )


def test_differences_are_paired_by_image_not_by_row_order():
    base = _frame("mean-chroma", [20.0, 30.0, 25.0, 22.0], [5.0, 5.0, 5.0, 5.0])
    # the same images listed in another order, each exactly 1 dB better
    arm = _frame("conditional", [23.0, 26.0, 31.0, 21.0], [4.0, 6.0, 3.0, 5.0], [3, 2, 1, 0])
    table = paired_comparison(pd.concat([base, arm]), ["conditional"], ["mean-chroma"])
    psnr = table[table["metric"] == "psnr"].iloc[0]
    assert psnr["mean"] == pytest.approx(1.0)
    assert psnr["ci_low"] == pytest.approx(1.0) and psnr["ci_high"] == pytest.approx(1.0)
    assert psnr["wins"] == 1.0 and psnr["n"] == 4 and psnr["better"] == "higher"


def test_a_lower_is_better_metric_counts_wins_where_the_arm_is_lower():
    base = _frame("uniform", [20.0] * 4, [10.0, 10.0, 10.0, 10.0])
    arm = _frame("conditional", [20.0] * 4, [2.0, 4.0, 12.0, 6.0])
    table = paired_comparison(pd.concat([base, arm]), ["conditional"], ["uniform"])
    gap = table[table["metric"] == "colourfulness_gap"].iloc[0]
    diffs = np.array([-8.0, -6.0, 2.0, -4.0])
    assert gap["better"] == "lower" and gap["wins"] == 0.75
    assert gap["mean"] == pytest.approx(diffs.mean())
    assert gap["ci_low"] < diffs.mean() < gap["ci_high"]
    psnr = table[table["metric"] == "psnr"].iloc[0]
    assert psnr["mean"] == 0.0 and psnr["wins"] == 0.0  # ties are not wins


def test_absent_arms_and_metrics_are_skipped_and_no_arm_meets_itself():
    frames = pd.concat(
        [_frame("mean-chroma", [20.0, 21.0], [1.0, 1.0]), _frame("model", [22.0, 21.5], [1, 2])]
    )
    table = paired_comparison(frames, ["model", "conditional"], ["uniform", "mean-chroma", "model"])
    assert set(zip(table["arm"], table["baseline"], strict=True)) == {("model", "mean-chroma")}
    assert set(table["metric"]) == {"psnr", "colourfulness_gap"}  # no ssim column in the frame
    empty = paired_comparison(frames, ["conditional"])
    assert empty.empty and "mean" in empty.columns

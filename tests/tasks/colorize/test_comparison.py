"""Paired arm-against-baseline differences over the same test images."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tasks.colorize.comparison import paired_comparison, set_level_comparison


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


def _set_frame(arm: str, mse: np.ndarray) -> pd.DataFrame:
    psnr = 10 * np.log10(1.0 / mse)
    return pd.DataFrame({"arm": arm, "image": np.arange(len(mse)), "mse": mse, "psnr": psnr})


def test_set_level_psnr_differences_and_their_bootstrap_intervals():
    rng = np.random.default_rng(0)
    base_mse = rng.uniform(1e-3, 1e-2, 200)
    halved = pd.concat([_set_frame("gray", base_mse), _set_frame("conditional", base_mse / 2)])
    table = set_level_comparison(halved, ["conditional"], ["gray"], resamples=500)
    pooled = table.query("metric == 'psnr_pooled'").iloc[0]
    # half the error on every image: +10 log10 2 dB over the set, whatever the resample
    assert pooled["mean"] == pytest.approx(10 * np.log10(2))
    assert pooled["ci_low"] == pytest.approx(pooled["ci_high"])
    assert np.isnan(pooled["wins"]) and pooled["n"] == 200
    # a noisy arm: the pooled difference is the difference of pooled PSNRs, inside its interval
    noisy = base_mse * rng.uniform(0.3, 1.5, 200)
    frames = pd.concat([_set_frame("gray", base_mse), _set_frame("model", noisy)])
    table = set_level_comparison(frames, ["model"], ["gray"], resamples=500)
    pooled = table.query("metric == 'psnr_pooled'").iloc[0]
    by_hand = 10 * np.log10(base_mse.mean() / noisy.mean())
    assert pooled["mean"] == pytest.approx(by_hand)
    assert pooled["ci_low"] < by_hand < pooled["ci_high"]
    median = table.query("metric == 'psnr_median'").iloc[0]
    psnr = lambda m: np.median(10 * np.log10(1.0 / m))  # noqa: E731
    assert median["mean"] == pytest.approx(psnr(noisy) - psnr(base_mse))


def test_best_of_k_is_compared_with_the_baselines_estimate():
    base = _frame("gray", [20.0, 22.0, 24.0], [1.0, 1.0, 1.0])
    arm = _frame("conditional", [19.0, 21.0, 23.0], [1.0, 1.0, 1.0]).assign(
        best_of_k_psnr=[23.0, 24.0, 27.0]
    )
    table = paired_comparison(pd.concat([base, arm]), ["conditional"], ["gray"])
    best = table.query("metric == 'best_of_k_psnr'").iloc[0]
    assert best["mean"] == pytest.approx((3.0 + 2.0 + 3.0) / 3) and best["wins"] == 1.0

"""The conformal threshold keeps its false-positive promise on fresh normal data."""

import math

import numpy as np
import pytest

from tasks.anomaly.threshold import ConformalThreshold


@pytest.mark.parametrize("alpha", [0.05, 0.1, 0.2])
def test_achieved_fpr_on_fresh_normals_matches_target(alpha):
    rng = np.random.default_rng(0)
    n_cal, n_test, trials = 200, 2000, 200
    fprs = []
    for _ in range(trials):
        thr = ConformalThreshold.fit(rng.standard_normal(n_cal), alpha)
        fprs.append(thr.flag(rng.standard_normal(n_test)).mean())
    fprs = np.array(fprs)
    # Marginal guarantee: E[FPR] = (n + 1 - k) / (n + 1) <= alpha, within sampling error.
    k = math.ceil((n_cal + 1) * (1 - alpha))
    expected = (n_cal + 1 - k) / (n_cal + 1)
    se = fprs.std(ddof=1) / math.sqrt(trials)
    assert abs(fprs.mean() - expected) < 4 * se
    assert fprs.mean() <= alpha + 4 * se
    assert fprs.mean() > alpha - 0.01  # and not wastefully conservative


def test_threshold_is_the_conformal_order_statistic():
    cal = np.arange(1.0, 20.0)  # 19 scores: k = ceil(20 * 0.9) = 18
    thr = ConformalThreshold.fit(cal[::-1], 0.1)
    assert thr.threshold == 18.0
    assert thr.flag(np.array([18.0, 18.5])).tolist() == [False, True]


def test_p_values_count_calibration_scores_at_least_as_large():
    thr = ConformalThreshold.fit(np.array([1.0, 2.0, 3.0, 4.0]), 0.5)
    # (1 + #{cal >= s}) / (n + 1)
    assert thr.p_values(np.array([0.0, 2.0, 2.5, 10.0])).tolist() == [1.0, 4 / 5, 3 / 5, 1 / 5]


def test_p_values_are_uniform_for_normal_data():
    rng = np.random.default_rng(1)
    thr = ConformalThreshold.fit(rng.standard_normal(999), 0.05)
    p = thr.p_values(rng.standard_normal(20000))
    assert abs(np.mean(p <= 0.05) - 0.05) < 0.01
    assert abs(np.mean(p <= 0.5) - 0.5) < 0.02


def test_flags_agree_with_p_values_for_continuous_scores():
    rng = np.random.default_rng(2)
    thr = ConformalThreshold.fit(rng.standard_normal(99), 0.1)
    s = rng.standard_normal(5000) * 2
    assert np.array_equal(thr.flag(s), thr.p_values(s) <= 0.1)


def test_too_few_calibration_scores_are_refused():
    with pytest.raises(ValueError, match="need at least 19"):
        ConformalThreshold.fit(np.zeros(10), 0.05)


def test_nan_calibration_is_refused():
    with pytest.raises(ValueError, match="NaN"):
        ConformalThreshold.fit(np.array([1.0, np.nan] * 20), 0.1)

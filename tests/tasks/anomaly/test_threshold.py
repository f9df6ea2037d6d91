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


def test_a_threshold_set_by_hand_promises_what_the_calibration_allows():
    cal = np.arange(1.0, 20.0)  # 19 calibration scores
    by_hand = ConformalThreshold.at(cal, 17.5)  # 2 scores above it: (2 + 1) / (19 + 1)
    assert by_hand.threshold == 17.5 and by_hand.promised_fpr() == pytest.approx(0.15)
    assert by_hand.flag(np.array([17.5, 17.6])).tolist() == [False, True]
    fitted = ConformalThreshold.fit(cal, 0.1)
    assert fitted.promised_fpr() == pytest.approx(2 / 20) and fitted.promised_fpr() <= 0.1
    with pytest.raises(ValueError, match="finite number"):
        ConformalThreshold.at(cal, float("nan"))


def test_a_detector_moves_its_threshold_without_retraining():
    from genmodels.classical.gmm import GMM
    from tasks.anomaly.detector import Detector
    from tasks.anomaly.scores import make_score

    model = GMM((1, 2, 2), 17, n_components=1)
    detector = Detector(model, make_score("bpd"), ConformalThreshold.fit(np.arange(99.0), 0.05))
    stricter = detector.recalibrated(target_fpr=0.01)
    assert stricter.threshold.threshold > detector.threshold.threshold
    assert np.array_equal(stricter.threshold.calibration, detector.threshold.calibration)
    assert stricter.model is model and stricter.score is detector.score
    # 88 of the 99 calibration scores (0..98) lie above 10: (88 + 1) / (99 + 1)
    assert detector.recalibrated(threshold=10.0).threshold.promised_fpr() == pytest.approx(0.89)
    with pytest.raises(ValueError, match="exactly one"):
        detector.recalibrated()
    with pytest.raises(ValueError, match="need at least 199"):
        detector.recalibrated(target_fpr=0.005)

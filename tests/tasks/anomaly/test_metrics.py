import numpy as np
import pytest

from tasks.anomaly.metrics import (
    bootstrap_ci,
    detection_metrics,
    fpr_at_tpr,
    paired_auroc_difference,
    validation_auroc,
)


def test_perfect_and_reversed_detectors():
    y = np.array([False] * 5 + [True] * 5)
    s = np.arange(10.0)
    flags = s > 4.5
    perfect = detection_metrics(y, s, flags, n_boot=50)
    assert perfect["auroc"] == 1.0 and perfect["auprc"] == 1.0 and perfect["fpr_at_95tpr"] == 0.0
    assert perfect["fpr_at_threshold"] == 0.0 and perfect["tpr_at_threshold"] == 1.0
    reversed_ = detection_metrics(y, -s, flags, n_boot=50)
    assert reversed_["auroc"] == 0.0


def test_fpr_at_95_tpr_hand_built():
    # 20 anomalies with scores 10..29, 10 normals; two normals score above anomaly #2 (score 11).
    y = np.array([True] * 20 + [False] * 10)
    s = np.concatenate([np.arange(10.0, 30.0), [0, 1, 2, 3, 4, 5, 6, 7, 11.5, 40]])
    # 95% TPR = 19 of 20 anomalies caught: threshold at score 11 -> normals above: 11.5 and 40.
    assert fpr_at_tpr(y, s, 0.95) == pytest.approx(0.2)


def test_achieved_rates_from_flags():
    y = np.array([False, False, False, False, True, True])
    flags = np.array([True, False, False, False, True, False])
    m = detection_metrics(y, np.arange(6.0), flags, n_boot=20)
    assert m["fpr_at_threshold"] == 0.25 and m["tpr_at_threshold"] == 0.5


def test_bootstrap_ci_brackets_the_estimate_and_narrows_with_n():
    rng = np.random.default_rng(0)

    def sample(n):
        y = np.arange(2 * n) >= n
        return y, rng.standard_normal(2 * n) + y

    y, s = sample(100)
    lo, hi = bootstrap_ci(y, s, n_boot=400)
    from sklearn.metrics import roc_auc_score

    assert lo < roc_auc_score(y, s) < hi
    y2, s2 = sample(2000)
    lo2, hi2 = bootstrap_ci(y2, s2, n_boot=200)
    assert hi2 - lo2 < (hi - lo) / 2


def test_normal_only_data_gets_its_false_positive_rate_and_no_anomalies_at_all_is_refused():
    # a user's usual data: normal images only; the one thing to measure is the flag rate
    normal_only = detection_metrics(np.zeros(4, bool), np.arange(4.0), np.array([0, 0, 1, 0], bool))
    assert normal_only == {"fpr_at_threshold": 0.25}
    with pytest.raises(ValueError, match="needs normal examples"):
        detection_metrics(np.ones(4, bool), np.arange(4.0), np.zeros(4, bool))


def test_nan_scores_are_refused():
    with pytest.raises(ValueError, match="NaN or Inf"):
        detection_metrics(np.array([0, 1], bool), np.array([0.0, np.nan]), np.zeros(2, bool))


def test_paired_auroc_difference_has_the_right_sign_and_is_zero_against_itself():
    rng = np.random.default_rng(0)
    y = np.array([False] * 60 + [True] * 40)
    perfect = y.astype(float) + 0.01 * rng.standard_normal(100)  # separates the classes
    noisy = y.astype(float) + 1.5 * rng.standard_normal(100)
    noisy_auroc = detection_metrics(y, noisy, noisy > 0, n_boot=10)["auroc"]
    gain, lo, hi = paired_auroc_difference(y, perfect, noisy, n_boot=200)
    assert gain == pytest.approx(1.0 - noisy_auroc)
    assert 0 < lo <= gain <= hi
    loss, lo, hi = paired_auroc_difference(y, noisy, perfect, n_boot=200)
    assert loss == pytest.approx(-gain) and lo <= loss <= hi < 0
    assert paired_auroc_difference(y, noisy, noisy, n_boot=50) == (0.0, 0.0, 0.0)


def test_paired_interval_is_narrower_than_the_separate_ones_for_correlated_detectors():
    """Two detectors that rank the same images alike: their difference is far surer than the
    overlap of their own intervals suggests (the point of pairing)."""
    rng = np.random.default_rng(1)
    y = np.array([False] * 150 + [True] * 150)
    shared = y.astype(float) + rng.standard_normal(300)
    a, b = shared + 0.1 * rng.standard_normal(300), shared + 0.3 * rng.standard_normal(300)
    _, lo, hi = paired_auroc_difference(y, a, b, n_boot=300)
    a_lo, a_hi = bootstrap_ci(y, a, n_boot=300)
    assert hi - lo < 0.5 * (a_hi - a_lo)


def test_paired_difference_refuses_mismatched_lengths():
    y = np.array([False, True, False, True])
    with pytest.raises(ValueError, match="must match the labels"):
        paired_auroc_difference(y, np.zeros(4), np.zeros(3))


def test_validation_auroc_counts_pairs_of_normal_and_anomalous_scores():
    # 2 normal x 3 anomalous = 6 pairs; the anomalous score is higher in 1 + 3 + 0.5 (a tie)
    normal = np.array([0.0, 2.0])
    anomalous = np.array([1.0, 2.0, 3.0])
    assert validation_auroc(normal, anomalous) == pytest.approx((2 + 1.5 + 1) / 6)
    assert validation_auroc(normal, anomalous + 10) == 1.0
    assert validation_auroc(normal + 10, anomalous) == 0.0


def test_validation_auroc_refuses_empty_or_nan_scores():
    with pytest.raises(ValueError, match="got 2 and 0"):
        validation_auroc(np.zeros(2), np.zeros(0))
    with pytest.raises(ValueError, match="1 validation scores are NaN"):
        validation_auroc(np.zeros(2), np.array([1.0, np.nan]))


def test_evaluate_detector_adds_the_validation_auroc_only_when_given_anomalies():
    from tasks.anomaly import evaluate_detector

    y = np.array([False] * 20 + [True] * 20)
    test = np.r_[np.arange(20.0), np.arange(20.0) + 15]
    cal = np.arange(20.0)
    plain = evaluate_detector("m", cal, test, y, 0.1, n_boot=20)
    assert "val_auroc" not in plain.metrics
    with_val = evaluate_detector("m", cal, test, y, 0.1, n_boot=20, val_anomalous_scores=cal + 100)
    assert with_val.metrics["val_auroc"] == 1.0
    assert with_val.metrics["auroc"] == plain.metrics["auroc"]  # the test metrics do not change

"""Privacy and fidelity measures on cases whose answer is known."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from genmodels.data import load_dataset
from genmodels.registry import get_model_class
from genmodels.training import seed_all
from tasks.fidelity import frechet_distance, precision_recall_density_coverage
from tasks.share import ReleaseGate, distance_audit, log_likelihoods, membership_auc


@pytest.fixture(scope="module")
def digits():
    images = load_dataset("digits")["all"].images
    g = torch.Generator().manual_seed(0)
    perm = torch.randperm(len(images), generator=g)
    return images[perm[:300]], images[perm[300:600]], images[perm[600:900]]


def test_a_copying_generator_is_caught_and_fails_the_gate(digits):
    train, holdout, _ = digits
    copies = train[:100] + 0.0  # a "generator" that hands out training records
    audit = distance_audit(copies, train, holdout, quantile=0.01)
    assert audit.memorization_rate == 1.0 and audit.dcr_ratio == 0.0
    assert set(audit.synthetic_nearest.tolist()) == set(range(100))  # each found its original
    failures = ReleaseGate().failures(
        {"memorization_rate": audit.memorization_rate, "membership_auc": 0.5}
    )
    assert len(failures) == 1 and "memorization_rate = 1.0000" in failures[0]


def test_fresh_real_images_are_not_called_memorized(digits):
    train, holdout, fresh = digits
    audit = distance_audit(fresh, train, holdout, quantile=0.01)
    assert audit.memorization_rate < 0.05  # by construction about 1% for exchangeable data
    assert 0.8 < audit.dcr_ratio < 1.25


def test_membership_attack_is_chance_untrained_and_strong_when_overfit(digits):
    train, holdout, other = digits
    ppca = get_model_class("ppca")
    seed_all(0)
    unrelated = ppca((1, 8, 8), 17, n_components=8)  # fit on data that is neither side
    unrelated.fit_closed_form(other, torch.Generator().manual_seed(0))
    auc_fresh = membership_auc(
        log_likelihoods(unrelated, train), log_likelihoods(unrelated, holdout)
    )
    assert abs(auc_fresh - 0.5) < 0.08
    overfit = ppca((1, 8, 8), 17, n_components=39)  # 39 directions for 40 training images
    overfit.fit_closed_form(train[:40], torch.Generator().manual_seed(0))
    auc_overfit = membership_auc(
        log_likelihoods(overfit, train[:40]), log_likelihoods(overfit, holdout[:40])
    )
    assert auc_overfit > 0.9


def test_manifold_metrics_on_identical_and_disjoint_sets():
    g = np.random.default_rng(0)
    real = g.normal(size=(200, 4))
    same = precision_recall_density_coverage(real, real.copy(), k=5)
    assert same["precision"] == 1.0 and same["recall"] == 1.0 and same["coverage"] == 1.0
    far = precision_recall_density_coverage(real, real + 100.0, k=5)
    assert far == {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}


def test_frechet_distance_of_a_mean_shift():
    g = np.random.default_rng(0)
    a = g.normal(size=(20000, 3))
    b = g.normal(size=(20000, 3)) + np.array([2.0, 0.0, 0.0])
    assert abs(frechet_distance(a, b) - 4.0) < 0.15  # |shift|^2 with equal covariances
    assert frechet_distance(a, a) < 1e-6


def test_frechet_distance_with_singular_covariances_is_exact_and_warning_free():
    # features 2 and 3 are copies of feature 1 (rank-1 covariances): the distance is that of the
    # 1-d Gaussians scaled by the 3 copies, 3 (|mu_a - mu_b|^2 + (s_a - s_b)^2) for std s
    g = np.random.default_rng(2)
    a = np.repeat(g.normal(0.0, 1.0, size=(20000, 1)), 3, axis=1)
    b = np.repeat(g.normal(1.0, 2.0, size=(20000, 1)), 3, axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        distance = frechet_distance(a, b)
    assert abs(distance - 3 * (1.0 + 1.0)) < 0.25


def test_frechet_distance_of_a_scale_change_is_warning_free():
    # N(0, I) against N(0, 4 I) in 3 dimensions: Tr(I + 4I - 2 (4I)^(1/2)) = 3 (1 + 4 - 4) = 3
    g = np.random.default_rng(1)
    a = g.normal(size=(20000, 3))
    b = 2.0 * g.normal(size=(20000, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a deprecated SciPy call would fail here
        distance = frechet_distance(a, b)
    assert abs(distance - 3.0) < 0.2


def test_gate_names_every_failed_check():
    gate = ReleaseGate(max_memorization_rate=0.01, max_membership_auc=0.6, min_utility_ratio=0.8)
    assert (
        gate.failures({"memorization_rate": 0.0, "membership_auc": 0.5, "utility_ratio": 0.9}) == []
    )
    failures = gate.failures(
        {"memorization_rate": 0.2, "membership_auc": 0.7, "utility_ratio": 0.5}
    )
    assert [f.split(" =")[0] for f in failures] == [
        "memorization_rate",
        "membership_auc",
        "utility_ratio",
    ]
    assert "not measured" in gate.failures({"memorization_rate": 0.0, "utility_ratio": 1.0})[0]

"""The kernel density: scores match scikit-learn, the density integrates to one, the chosen
bandwidth generalizes, samples have the kernel's moments, the stored points are capped."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.special import logsumexp
from sklearn.neighbors import KernelDensity

from genmodels.classical import KDE
from genmodels.classical.kde import leave_one_out_log_likelihood
from genmodels.persistence import load_model, save_model


def _blobs(n: int, d: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = np.array([[0.3] * d, [0.7] * d])
    return centres[rng.integers(0, 2, n)] + 0.05 * rng.standard_normal((n, d))


def test_log_density_matches_scikit_learn():
    data = _blobs(200, 4, 0)
    model = KDE((1, 2, 2), 256, bandwidth=0.07)
    model._fit(data, seed=0)
    query = _blobs(20, 4, 1)
    reference = KernelDensity(bandwidth=0.07).fit(data).score_samples(query)
    ours = model.log_density(torch.from_numpy(query)).numpy()
    assert np.allclose(ours, reference, atol=1e-8)


def test_leave_one_out_score_is_each_point_scored_by_the_others():
    data = _blobs(30, 3, 2)
    h = 0.08
    loo = leave_one_out_log_likelihood(torch.from_numpy(data), torch.tensor([h])).item()
    by_hand = np.mean(
        [
            KernelDensity(bandwidth=h).fit(np.delete(data, i, 0)).score_samples(data[i : i + 1])[0]
            for i in range(len(data))
        ]
    )
    assert loo == pytest.approx(by_hand, abs=1e-6)


def test_density_integrates_to_one():
    model = KDE((1, 1, 2), 256)
    model._fit(_blobs(300, 2, 3), seed=0)
    n, lo, hi = 600, -0.5, 1.5
    t = lo + (hi - lo) * (torch.arange(n, dtype=torch.float64) + 0.5) / n
    integral = model.log_density(torch.cartesian_prod(t, t)).exp().sum().item()
    assert integral * ((hi - lo) / n) ** 2 == pytest.approx(1.0, abs=0.01)


def test_chosen_bandwidth_beats_a_third_and_three_times_it_on_held_out_data():
    train, held_out = _blobs(400, 2, 4), torch.from_numpy(_blobs(400, 2, 5))
    chosen = KDE((1, 1, 2), 256)
    chosen._fit(train, seed=0)
    h = float(chosen.bandwidth)
    scores = {}
    for factor in (1 / 3, 1.0, 3.0):
        model = KDE((1, 1, 2), 256, bandwidth=h * factor)
        model._fit(train, seed=0)
        scores[factor] = model.log_density(held_out).mean().item()
    assert scores[1.0] > scores[1 / 3] and scores[1.0] > scores[3.0]


def test_samples_are_stored_points_plus_kernel_noise():
    data = _blobs(500, 2, 6)
    model = KDE((1, 1, 2), 256, bandwidth=0.03)
    model._fit(data, seed=0)
    flat = model._sample_flat(40000, torch.Generator().manual_seed(0)).numpy()
    assert np.allclose(flat.mean(0), data.mean(0), atol=0.01)
    # a mixture of the points with kernel variance h^2: covariance = cov(points) + h^2 I
    expected = np.cov(data.T, bias=True) + 0.03**2 * np.eye(2)
    assert np.allclose(np.cov(flat.T), expected, atol=0.003)


def test_points_are_capped_and_survive_a_model_file(tmp_path):
    images = torch.rand(300, 1, 3, 3)
    model = KDE((1, 3, 3), 256, max_points=50)
    model.fit_closed_form(images, generator=torch.Generator().manual_seed(0))
    assert model.points.shape == (50, 9)
    loaded = load_model(save_model(model, tmp_path / "kde.pt"))
    assert torch.equal(loaded.points, model.points)
    assert torch.allclose(loaded.log_prob(images[:10]), model.log_prob(images[:10]))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"bandwidth": 0.0}, "bandwidth must be > 0"),
        ({"max_points": 1}, "max_points must be >= 2"),
        ({"grid_size": 0}, "grid_size must be >= 1"),
    ],
)
def test_bad_settings_are_refused_by_name(kwargs, message):
    with pytest.raises(ValueError, match=message):
        KDE((1, 2, 2), 256, **kwargs)


def test_leave_one_out_score_in_row_blocks_equals_the_whole_matrix():
    # 600 points span three row blocks of the implementation; the reference sums the full matrix
    data = _blobs(600, 5, 7)
    sq = ((data[:, None, :] - data[None]) ** 2).sum(-1)
    np.fill_diagonal(sq, np.inf)
    for h in (0.02, 0.1):
        reference = (
            logsumexp(-sq / (2 * h * h), axis=1).mean()
            - np.log(599)
            - 0.5 * 5 * np.log(2 * np.pi * h * h)
        )
        ours = leave_one_out_log_likelihood(torch.from_numpy(data), torch.tensor([h])).item()
        assert ours == pytest.approx(reference, abs=1e-6)  # expanded-form distances

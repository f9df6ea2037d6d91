"""Classical densities: scores match scikit-learn, densities integrate to 1, samples match."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.decomposition import PCA
from sklearn.mixture import GaussianMixture

from genmodels.classical import GMM, PPCA


def _two_pixel_data(n: int = 400, seed: int = 0) -> torch.Tensor:
    """Correlated 2-pixel images ``(n, 1, 1, 2)`` on a 256-level grid."""
    g = torch.Generator().manual_seed(seed)
    a = torch.rand(n, generator=g) * 0.6 + 0.2
    b = (a + 0.1 * torch.randn(n, generator=g)).clamp(0, 1)
    return torch.round(torch.stack([a, b], 1) * 255).view(n, 1, 1, 2) / 255


@pytest.mark.parametrize("cls", [PPCA, GMM], ids=["ppca", "gmm"])
def test_continuous_density_integrates_to_one(cls):
    model = cls((1, 1, 2), 256, n_components=1 if cls is PPCA else 2)
    model.fit_closed_form(_two_pixel_data(), generator=torch.Generator().manual_seed(0))
    n, lo, hi = 800, -1.0, 2.0
    t = lo + (hi - lo) * (torch.arange(n, dtype=torch.float64) + 0.5) / n
    grid = torch.cartesian_prod(t, t)
    integral = model.log_density(grid).exp().sum().item() * ((hi - lo) / n) ** 2
    assert integral == pytest.approx(1.0, abs=0.02)


def test_ppca_log_density_matches_scikit_learn():
    rng = np.random.default_rng(0)
    data = rng.standard_normal((300, 6)) @ rng.standard_normal((6, 6)) * 0.1 + 0.5
    model = PPCA((1, 2, 3), 256, n_components=2)
    model._fit(data, seed=0)
    reference = PCA(n_components=2).fit(data).score_samples(data[:10])
    ours = model.log_density(torch.from_numpy(data[:10])).numpy()
    assert np.allclose(ours, reference, atol=1e-8)


def test_gmm_log_density_matches_scikit_learn():
    rng = np.random.default_rng(1)
    data = np.vstack([rng.normal(0.2, 0.05, (150, 4)), rng.normal(0.7, 0.1, (150, 4))])
    model = GMM((1, 2, 2), 256, n_components=2)
    model._fit(data, seed=3)
    reference = GaussianMixture(2, covariance_type="full", reg_covar=1e-3, random_state=3).fit(data)
    ours = model.log_density(torch.from_numpy(data[:20])).numpy()
    assert np.allclose(ours, reference.score_samples(data[:20]), atol=1e-8)


@pytest.mark.parametrize("cls", [PPCA, GMM], ids=["ppca", "gmm"])
def test_samples_reproduce_the_fitted_moments(cls):
    data = _two_pixel_data(2000)
    model = cls((1, 1, 2), 256, n_components=1 if cls is PPCA else 2)
    model.fit_closed_form(data, generator=torch.Generator().manual_seed(0))
    flat = model._sample_flat(20000, torch.Generator().manual_seed(1)).numpy()
    real = data.flatten(1).double().numpy()
    assert np.allclose(flat.mean(0), real.mean(0), atol=0.01)
    assert np.allclose(np.cov(flat.T), np.cov(real.T), atol=0.005)


def test_bits_per_dim_of_the_untrained_standard_normal():
    # An unfitted PPCA is N(0, I). At the centre of the pixel bin of 0 (y = 0.5/256) each
    # dimension has density ~ 1/sqrt(2 pi) and bin width 1/256: 0.5 log2(2 pi) + 8 bits.
    model = PPCA((1, 2, 2), 256, n_components=1)
    x = torch.zeros(1, 1, 2, 2)
    expected = (0.5 * math.log(2 * math.pi) + math.log(256)) / math.log(2)  # at y ~ 0
    assert model.bits_per_dim(x).item() == pytest.approx(expected, abs=0.01)


def test_too_few_images_for_the_components_is_refused():
    model = PPCA((1, 4, 4), 17, n_components=8)
    with pytest.raises(ValueError, match="needs more than 8 training images"):
        model.fit_closed_form(torch.rand(5, 1, 4, 4))


def test_gmm_draws_solve_each_components_factor():
    """Every draw is ``mu_k + P_k^{-T} eps`` for its own component, solved one component at a
    time; checked draw by draw with numpy against the same noise."""
    g = torch.Generator().manual_seed(0)
    data = torch.rand(300, 1, 2, 2, generator=g)
    model = GMM((1, 2, 2), 256, n_components=3)
    model.fit_closed_form(data, generator=torch.Generator().manual_seed(0))
    draws = model._sample_flat(50, torch.Generator().manual_seed(4)).numpy()
    replay = torch.Generator().manual_seed(4)
    comp = torch.multinomial(model.log_weights.exp(), 50, replacement=True, generator=replay)
    eps = torch.randn(50, 4, generator=replay, dtype=torch.float64).numpy()
    chol, means = model.precision_chol.numpy(), model.means.numpy()
    for i, k in enumerate(comp.tolist()):
        assert np.allclose(draws[i], means[k] + np.linalg.solve(chol[k].T, eps[i]), atol=1e-10)
    assert len(set(comp.tolist())) == 3  # every component was drawn from

import pytest
import torch

from genmodels.likelihoods import (
    discretized_gaussian_log_prob,
    discretized_logistic_log_prob,
    sample_discretized_logistic,
)


@pytest.mark.parametrize("levels", [2, 4, 17, 256])
def test_probabilities_of_all_levels_sum_to_one(levels):
    g = torch.Generator().manual_seed(0)
    mean = torch.rand(50, generator=g) * 1.4 - 0.2
    log_scale = torch.rand(50, generator=g) * 6 - 6  # very sharp to broad
    grid = torch.arange(levels, dtype=torch.float64) / (levels - 1)
    lp = discretized_logistic_log_prob(
        grid[:, None], mean.double()[None], log_scale.double()[None], levels
    )
    assert torch.allclose(lp.exp().sum(0), torch.ones(50, dtype=torch.float64), atol=1e-4)


def test_most_mass_is_on_the_level_at_the_mean():
    lp = discretized_logistic_log_prob(
        torch.tensor([0.5, 0.75]), torch.tensor(0.5), torch.tensor(-5.0), levels=5
    )
    assert lp[0].exp() > 0.99 and lp[1].exp() < 0.01


def test_samples_follow_the_distribution():
    g = torch.Generator().manual_seed(1)
    mean, log_scale = torch.full((40000,), 0.4), torch.full((40000,), -2.0)
    s = sample_discretized_logistic(mean, log_scale, 5, g)
    freq = torch.stack([(s == k / 4).float().mean() for k in range(5)])
    grid = torch.arange(5.0) / 4
    probs = discretized_logistic_log_prob(grid, torch.tensor(0.4), torch.tensor(-2.0), 5).exp()
    assert torch.allclose(freq, probs, atol=0.01)


@pytest.mark.parametrize("levels", [2, 17, 256])
def test_discretized_gaussian_sums_to_one_and_stays_finite_far_out(levels):
    g = torch.Generator().manual_seed(2)
    mean = torch.rand(30, generator=g, dtype=torch.float64) * 2 - 0.5
    log_scale = torch.rand(30, generator=g, dtype=torch.float64) * 8 - 9  # down to sigma ~ 1e-4
    grid = torch.arange(levels, dtype=torch.float64) / (levels - 1)
    lp = discretized_gaussian_log_prob(grid[:, None], mean[None], log_scale[None], levels)
    assert torch.isfinite(lp).all()
    assert torch.allclose(lp.exp().sum(0), torch.ones(30, dtype=torch.float64), atol=1e-6)

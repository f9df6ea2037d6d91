"""MAP and Langevin inference checked against priors whose posterior is known."""

import pytest
import torch

from tasks.colorize.color import to_chroma
from tasks.colorize.inference import (
    InferenceSpec,
    climb,
    langevin,
    map_colorize,
    sample_colorize,
)
from tasks.colorize.priors import MeanChromaPrior, UniformPrior


def _gaussian(mu: torch.Tensor, sd: torch.Tensor):
    return lambda x: (-0.5 * ((x - mu) / sd) ** 2).sum(1)


@pytest.mark.parametrize("adjust", [True, False])
def test_langevin_samples_a_known_gaussian(adjust):
    mu, sd = torch.tensor([1.0, -2.0, 0.5]), torch.tensor([0.5, 0.8, 1.0])
    g = torch.Generator().manual_seed(0)
    steps, step = (400, 0.05) if adjust else (1500, 0.005)
    result = langevin(_gaussian(mu, sd), torch.zeros(3000, 3), steps, step, g, adjust, steps // 2)
    x = result.samples
    assert torch.allclose(x.mean(0), mu, atol=0.06)
    assert torch.allclose(x.std(0), sd, rtol=0.08)
    if adjust:
        assert 0.4 < result.accept_rate.mean().item() < 0.75  # tuned towards 0.574


def test_langevin_refuses_bad_settings():
    with pytest.raises(ValueError, match="step_size"):
        langevin(_gaussian(torch.zeros(1), torch.ones(1)), torch.zeros(2, 1), 10, 0.0)


def _mean_chroma_prior(h: int = 4, w: int = 4) -> MeanChromaPrior:
    mean = torch.stack([torch.full((h, w), 0.05), torch.full((h, w), -0.03)])
    return MeanChromaPrior(mean, torch.full((2, h, w), 0.04))


def test_colorization_samples_under_a_gaussian_chroma_prior_have_its_moments():
    prior = _mean_chroma_prior()
    gray = torch.full((1, 1, 4, 4), 0.5)
    config = InferenceSpec(samples=400, langevin_steps=300, adapt_steps=150, batch_size=1)
    samples = sample_colorize(prior, gray, config, torch.Generator().manual_seed(1))
    chroma = to_chroma(samples.rgb.reshape(-1, 3, 4, 4))  # (400, 2, 4, 4)
    per_channel = chroma.permute(1, 0, 2, 3).reshape(2, -1)
    assert torch.allclose(per_channel.mean(1), torch.tensor([0.05, -0.03]), atol=0.004)
    assert torch.allclose(per_channel.std(1), torch.tensor([0.04, 0.04]), rtol=0.1)


def test_map_under_a_gaussian_chroma_prior_is_its_mean():
    prior = _mean_chroma_prior()
    gray = torch.rand(3, 1, 4, 4, generator=torch.Generator().manual_seed(0)) * 0.4 + 0.3
    config = InferenceSpec(starts=2, map_steps=200, map_lr=0.02)
    rgb = map_colorize(prior, gray, config, torch.Generator().manual_seed(0)).rgb
    assert torch.allclose(to_chroma(rgb), prior.mean.expand(3, -1, -1, -1), atol=2e-3)


def test_the_uniform_prior_is_flat_and_gives_no_gradient():
    rgb = torch.rand(2, 3, 4, 4, requires_grad=True)
    value = UniformPrior()(rgb)
    value.sum().backward()
    assert torch.equal(value, torch.zeros(2)) and torch.equal(rgb.grad, torch.zeros_like(rgb))


def test_mean_chroma_prior_fit_recovers_the_average_colour():
    red = torch.tensor([0.8, 0.2, 0.2]).view(1, 3, 1, 1)
    images = red + 0.05 * torch.randn(200, 3, 2, 2, generator=torch.Generator().manual_seed(0))
    prior = MeanChromaPrior.fit(images.clamp(0, 1))
    assert torch.allclose(prior.mean, to_chroma(red).squeeze(0).expand(2, 2, 2), atol=0.01)
    with pytest.raises(ValueError, match="colour images"):
        MeanChromaPrior.fit(torch.rand(5, 1, 2, 2))


class _TwoColours:
    """A bimodal prior: the whole image is tinted +m or -m on the first chroma axis (narrow
    modes, equal weight), the second axis near 0."""

    name = "two-colours"

    def __init__(self, m: float = 0.1, sd: float = 0.02) -> None:
        self.m, self.sd = m, sd

    def __call__(self, rgb: torch.Tensor) -> torch.Tensor:
        c = to_chroma(rgb)
        near = [
            -0.5 * (((c[:, 0] - s * self.m) ** 2 + c[:, 1] ** 2) / self.sd**2).flatten(1).sum(1)
            for s in (1.0, -1.0)
        ]
        return torch.logsumexp(torch.stack(near), 0)


def _mode_signs(rgb: torch.Tensor) -> torch.Tensor:
    return torch.sign(to_chroma(rgb.flatten(0, 1))[:, 0].mean((1, 2)))


def test_dispersed_chains_visit_both_modes_and_their_mean_sits_between():
    prior, gray = _TwoColours(), torch.full((1, 1, 2, 2), 0.5)
    settings = dict(samples=16, map_steps=100, map_lr=0.02, langevin_steps=40, adapt_steps=20)
    from_map = sample_colorize(
        prior, gray, InferenceSpec(**settings), torch.Generator().manual_seed(0),
        start=map_colorize(prior, gray, InferenceSpec(**settings)).rgb,
    )  # fmt: skip
    assert _mode_signs(from_map.rgb).unique().numel() == 1  # stuck in the MAP's mode
    climbs = climb(prior, gray, 16, InferenceSpec(**settings), torch.Generator().manual_seed(0))
    dispersed = sample_colorize(
        prior, gray, InferenceSpec(**settings), torch.Generator().manual_seed(0),
        start=climbs.rgb,
    )  # fmt: skip
    signs = _mode_signs(dispersed.rgb)
    assert (signs > 0).sum() >= 3 and (signs < 0).sum() >= 3  # both modes are visited
    # so the posterior mean is pulled towards gray, unlike either mode
    mean_tint = to_chroma(dispersed.rgb.mean(0))[:, 0].abs().mean()
    assert mean_tint < 0.6 * prior.m


def test_climbs_keep_every_start_and_best_picks_the_highest_posterior():
    prior, gray = _mean_chroma_prior(), torch.full((2, 1, 4, 4), 0.5)
    config = InferenceSpec(map_steps=0)
    climbs = climb(prior, gray, 3, config, torch.Generator().manual_seed(0))
    assert climbs.rgb.shape == (3, 2, 3, 4, 4) and climbs.log_posterior.shape == (3, 2)
    best = climbs.best()
    for i in range(2):
        k = int(climbs.log_posterior[:, i].argmax())
        assert torch.equal(best.rgb[i], climbs.rgb[k, i])
        assert best.log_posterior[i] == climbs.log_posterior[:, i].max()


def test_per_chain_starts_are_used_as_given():
    gray = torch.full((2, 1, 3, 3), 0.5)
    starts = climb(UniformPrior(), gray, 3, InferenceSpec(map_steps=0)).rgb
    config = InferenceSpec(samples=3, langevin_steps=0, adapt_steps=0)
    samples = sample_colorize(UniformPrior(), gray, config, start=starts)
    assert torch.allclose(samples.rgb, starts, atol=1e-6)
    with pytest.raises(ValueError, match="2 chain starts for 3 samples"):
        sample_colorize(UniformPrior(), gray, config, start=starts[:2])


def test_estimate_and_chain_start_settings_are_checked():
    with pytest.raises(ValueError, match="needs samples >= 2"):
        InferenceSpec(estimate="posterior-mean", samples=1)
    with pytest.raises(ValueError, match="chain_start"):
        InferenceSpec(chain_start="everywhere")  # type: ignore[arg-type]


class _Quadratic:
    """log p = -100 |chroma - centre|^2: a mode at (or near) the gray input."""

    name = "quadratic"

    def __init__(self, centre: float = 0.0) -> None:
        self.centre = centre

    def __call__(self, rgb: torch.Tensor) -> torch.Tensor:
        return -100.0 * ((to_chroma(rgb) - self.centre) ** 2).flatten(1).sum(1)


def test_a_climb_never_ends_below_its_start_even_when_every_step_overshoots():
    gray = torch.full((2, 1, 3, 3), 0.5)
    prior = _Quadratic(centre=0.01)  # next to the gray start; a step of 5 flies far past it
    config = InferenceSpec(map_steps=5, map_lr=5.0, gray_start=True)
    climbs = climb(prior, gray, 2, config, torch.Generator().manual_seed(0))
    starts = climb(prior, gray, 2, InferenceSpec(map_steps=0, gray_start=True),
                   torch.Generator().manual_seed(0))  # fmt: skip
    assert torch.allclose(climbs.rgb[0], gray.expand(-1, 3, -1, -1), atol=1e-6)  # kept gray
    assert torch.allclose(climbs.log_posterior[0], starts.log_posterior[0])
    assert (climbs.log_posterior[1] >= starts.log_posterior[1]).all()


def test_gray_start_is_the_first_climb_and_wins_for_a_prior_that_prefers_gray():
    gray = torch.rand(3, 1, 4, 4, generator=torch.Generator().manual_seed(1)) * 0.6 + 0.2
    without = climb(_Quadratic(), gray, 3, InferenceSpec(map_steps=0))
    assert (to_chroma(without.rgb.flatten(0, 1)).abs().amax((1, 2, 3)) > 0.01).all()
    config = InferenceSpec(starts=3, map_steps=0, gray_start=True)
    best = map_colorize(_Quadratic(), gray, config, torch.Generator().manual_seed(0))
    assert torch.allclose(best.rgb, gray.expand(-1, 3, -1, -1), atol=1e-6)
    assert (best.log_posterior > without.log_posterior.max(0).values).all()

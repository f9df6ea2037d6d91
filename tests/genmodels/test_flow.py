"""Correctness of the RealNVP flow: invertibility, log-determinant, normalization, contract; and
of the conditional flow p(y | c): the same given a condition, the condition used, clear errors."""

from __future__ import annotations

import math

import pytest
import torch

from genmodels.errors import CapabilityError
from genmodels.flow.image_conditioned import ConditionalFlow
from genmodels.flow.layers import (
    ActNorm,
    ChannelCoupling,
    CheckerboardCoupling,
    LogitTransform,
    SequentialFlow,
    Squeeze,
)
from genmodels.flow.module import RealNVP
from genmodels.flow.network import MultiScaleFlow
from genmodels.persistence import load_model, save_model


def _randomize(module: torch.nn.Module, scale: float = 0.3, seed: int = 0) -> None:
    """Move every parameter off its identity initialization so the map is non-trivial."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(scale * torch.randn(p.shape, generator=g, dtype=p.dtype))
    for m in module.modules():
        if isinstance(m, ActNorm):
            m.initialized.fill_(True)


@pytest.fixture
def flow64() -> MultiScaleFlow:
    torch.manual_seed(0)
    net = MultiScaleFlow((1, 4, 4), num_scales=2, hidden_channels=8, num_blocks=1).double()
    _randomize(net)
    return net


def test_flow_inverts_to_1e4(flow64):
    y = torch.rand(5, 1, 4, 4, dtype=torch.float64) * 0.9 + 0.05
    z, _ = flow64(y)
    assert z.shape == (5, 16)
    assert torch.allclose(flow64.inverse(z), y, atol=1e-4)


def test_logdet_matches_brute_force_jacobian(flow64):
    y = torch.rand(1, 1, 4, 4, dtype=torch.float64) * 0.9 + 0.05

    def f(v: torch.Tensor) -> torch.Tensor:
        return flow64(v.view(1, 1, 4, 4))[0].view(-1)

    jac = torch.autograd.functional.jacobian(f, y.view(-1))
    _, logabsdet = torch.linalg.slogdet(jac)
    _, logdet = flow64(y)
    assert logdet.item() == pytest.approx(logabsdet.item(), abs=1e-6)


@pytest.mark.parametrize(
    "steps",
    [
        # channel coupling on a (2, 1, 1) "image"
        lambda: [
            ChannelCoupling(2, 8, 1, parity=0),
            ActNorm(2),
            ChannelCoupling(2, 8, 1, parity=1),
        ],
        # checkerboard coupling on a (1, 1, 2) "image"
        lambda: [
            CheckerboardCoupling(1, 8, 1, parity=0),
            ActNorm(1),
            CheckerboardCoupling(1, 8, 1, parity=1),
        ],
    ],
    ids=["channel", "checkerboard"],
)
def test_density_of_2d_flow_integrates_to_one(steps):
    torch.manual_seed(1)
    alpha = 0.05
    body = SequentialFlow([LogitTransform(alpha), *steps()]).double()
    # Moderate perturbation: a non-trivial map (the Jacobian has large off-diagonal terms) whose
    # density is smooth enough for a 600x600 midpoint rule to resolve near the support's edge.
    _randomize(body, scale=0.25)
    shape = (2, 1, 1) if isinstance(body.steps[1], ChannelCoupling) else (1, 1, 2)
    # The logit squeeze makes the support slightly wider than [0, 1]: integrate over all of it.
    lo, hi = -alpha / (1 - 2 * alpha), (1 - alpha) / (1 - 2 * alpha)
    n = 600  # midpoint rule
    t = lo + (hi - lo) * (torch.arange(n, dtype=torch.float64) + 0.5) / n
    grid = torch.cartesian_prod(t, t).view(-1, *shape)
    with torch.no_grad():
        z, logdet = body(grid)
    z = z.flatten(1)
    log_p = -0.5 * (z**2).sum(1) - math.log(2 * math.pi) + logdet
    integral = log_p.exp().sum().item() * ((hi - lo) / n) ** 2
    assert integral == pytest.approx(1.0, abs=0.02)


def test_squeeze_is_volume_preserving_and_invertible():
    x = torch.randn(2, 3, 4, 6)
    y, logdet = Squeeze()(x)
    assert y.shape == (2, 12, 2, 3)
    assert torch.equal(Squeeze().inverse(y), x)
    assert torch.all(logdet == 0)


def test_actnorm_initializes_to_zero_mean_unit_variance():
    x = torch.randn(64, 3, 4, 4) * 5 + 2
    y, _ = ActNorm(3)(x)
    assert torch.allclose(y.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-5)
    assert torch.allclose(y.std(dim=(0, 2, 3)), torch.ones(3), atol=1e-3)


def test_image_size_must_fit_the_scales():
    with pytest.raises(ValueError, match="not divisible"):
        MultiScaleFlow((1, 6, 6), num_scales=3)


@pytest.fixture
def model() -> RealNVP:
    torch.manual_seed(0)
    m = RealNVP((1, 4, 4), levels=17, num_scales=2, hidden_channels=8, num_blocks=1)
    _randomize(m, scale=0.1)
    return m.eval()


def test_log_prob_is_per_example_finite_and_a_probability_bound(model, tiny_images):
    lp = model.log_prob(tiny_images.images)
    assert lp.shape == (40,)
    assert torch.isfinite(lp).all()
    assert (lp < 0).all()  # the mass of one discrete image is below 1


def test_bits_per_dim_matches_log_prob(model, tiny_images):
    x = tiny_images.images[:4]
    expected = -model.log_prob(x) / (16 * math.log(2))
    assert torch.allclose(model.bits_per_dim(x), expected)


def test_log_prob_is_deterministic(model, tiny_images):
    x = tiny_images.images[:4]
    assert torch.equal(model.log_prob(x), model.log_prob(x))


def test_samples_have_shape_range_and_levels(model):
    s = model.sample(10, generator=torch.Generator().manual_seed(0))
    assert s.shape == (10, 1, 4, 4)
    assert s.min() >= 0 and s.max() <= 1
    assert torch.allclose(s * 16, torch.round(s * 16))  # on the data's 17-level grid


def test_sampling_is_seeded(model):
    a = model.sample(3, generator=torch.Generator().manual_seed(5))
    b = model.sample(3, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a, b)


def test_conditional_sampling_is_refused(model):
    with pytest.raises(CapabilityError, match="unconditional"):
        model.sample(2, condition=torch.zeros(2, dtype=torch.long))


def test_wrong_input_shape_is_refused(model):
    with pytest.raises(ValueError, match="expects images of shape"):
        model.log_prob(torch.zeros(2, 1, 8, 8))


def test_save_and_load_give_identical_scores(model, tiny_images, tmp_path):
    path = save_model(model, tmp_path / "m.pt")
    loaded = load_model(path)
    x = tiny_images.images
    assert torch.allclose(loaded.log_prob(x), model.log_prob(x), atol=1e-6)


def test_training_lowers_bits_per_dim(tiny_images):
    from genmodels.training import TrainConfig, fit_model

    torch.manual_seed(0)
    m = RealNVP((1, 4, 4), levels=17, num_scales=2, hidden_channels=16, num_blocks=1, lr=3e-3)
    m.net(m.dequantize(tiny_images.images))  # data-dependent actnorm init, as training does
    before = m.eval().bits_per_dim(tiny_images.images).mean().item()
    fit_model(m, tiny_images, tiny_images, TrainConfig(max_epochs=15, batch_size=20, patience=0))
    after = m.bits_per_dim(tiny_images.images).mean().item()
    assert after < before - 0.3


def test_conditional_flow_marginal_is_the_prior_weighted_mixture(tiny_images):
    from genmodels.flow import ConditionalRealNVP

    torch.manual_seed(0)
    m = ConditionalRealNVP((1, 4, 4), 17, hidden_channels=8, num_blocks=1, num_classes=2)
    _randomize(m, scale=0.1)
    m.log_class_prior.copy_(torch.log(torch.tensor([0.25, 0.75])))
    x = tiny_images.images[:6]
    with torch.no_grad():
        p0 = m.conditional_log_prob(x, torch.zeros(6, dtype=torch.long))
        p1 = m.conditional_log_prob(x, torch.ones(6, dtype=torch.long))
        expected = torch.logaddexp(p0 + math.log(0.25), p1 + math.log(0.75))
        assert torch.allclose(m.log_prob(x), expected, atol=1e-5)
        assert not torch.allclose(p0, p1)  # the class means differ after randomization


def test_conditional_flow_follows_its_label(tiny_images):
    from genmodels.flow import ConditionalRealNVP
    from genmodels.training import TrainConfig, fit_model, seed_all

    seed_all(0)
    m = ConditionalRealNVP((1, 4, 4), 17, hidden_channels=16, num_blocks=1, lr=1e-2, num_classes=2)
    fit_model(m, tiny_images, tiny_images, TrainConfig(max_epochs=60, batch_size=20, patience=0))
    gen = torch.Generator().manual_seed(0)
    bright = m.sample(200, condition=torch.zeros(200, dtype=torch.long), generator=gen)
    dark = m.sample(200, condition=torch.ones(200, dtype=torch.long), generator=gen)
    assert bright[:, :, 1:3, 1:3].mean() > dark[:, :, 1:3, 1:3].mean() + 0.2


# -- the conditional flow p(y | c) -----------------------------------------------------------


@pytest.fixture
def cflow() -> ConditionalFlow:
    torch.manual_seed(0)
    net = ConditionalFlow(
        (2, 4, 4), 1, context_channels=3, num_scales=2, hidden_channels=8, num_blocks=1
    ).double()
    _randomize(net)
    return net


def _inputs(n: int = 3, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    y = torch.rand(n, 2, 4, 4, generator=g, dtype=torch.float64) * 0.9 + 0.05
    c = torch.rand(n, 1, 4, 4, generator=g, dtype=torch.float64)
    return y, c


def test_inverse_given_the_condition_recovers_the_image(cflow):
    y, c = _inputs()
    context = cflow.encoder(c)
    z, _ = cflow.flow(y, context)
    assert torch.allclose(cflow.flow.inverse(z, context), y, atol=1e-6)


def test_logdet_given_the_condition_matches_brute_force_jacobian(cflow):
    y, c = _inputs(1)
    context = cflow.encoder(c)

    def f(v: torch.Tensor) -> torch.Tensor:
        return cflow.flow(v.view(1, 2, 4, 4), context)[0].view(-1)

    _, logabsdet = torch.linalg.slogdet(torch.autograd.functional.jacobian(f, y.view(-1)))
    assert cflow.flow(y, context)[1].item() == pytest.approx(logabsdet.item(), abs=1e-6)


def test_the_density_depends_on_the_condition(cflow):
    y, c = _inputs()
    same = cflow.log_density(y, c)
    other = cflow.log_density(y, 1.0 - c)
    assert (same - other).abs().min() > 1e-3
    assert torch.equal(cflow.log_density(y, c), same)  # deterministic


@pytest.mark.parametrize("kind", [ChannelCoupling, CheckerboardCoupling])
def test_conditional_coupling_density_integrates_to_one_for_every_condition(kind):
    """A 2-d coupling flow conditioned on a scalar context: for two contexts the densities
    differ, and each integrates to one (a midpoint rule over the logit's support)."""
    torch.manual_seed(1)
    shape = (2, 1, 1) if kind is ChannelCoupling else (1, 1, 2)
    flow = MultiScaleFlow(shape, num_scales=1, hidden_channels=8, num_blocks=1, context_channels=1)
    if kind is ChannelCoupling:  # a 1-scale flow uses checkerboard couplings; swap them in
        flow.final = SequentialFlow(
            [ChannelCoupling(2, 8, 1, 0, 1), ActNorm(2), ChannelCoupling(2, 8, 1, 1, 1)]
        )
    flow = flow.double()
    _randomize(flow, scale=0.25)
    alpha = 0.05
    lo, hi = -alpha / (1 - 2 * alpha), (1 - alpha) / (1 - 2 * alpha)
    n = 500
    t = lo + (hi - lo) * (torch.arange(n, dtype=torch.float64) + 0.5) / n
    grid = torch.cartesian_prod(t, t).view(-1, *shape)
    densities = []
    for value in (-1.0, 2.0):
        context = (torch.full((len(grid), 1, *shape[1:]), value, dtype=torch.float64),)
        with torch.no_grad():
            z, logdet = flow(grid, context)
        log_p = -0.5 * (z.flatten(1) ** 2).sum(1) - math.log(2 * math.pi) + logdet
        densities.append(log_p.exp())
        assert log_p.exp().sum().item() * ((hi - lo) / n) ** 2 == pytest.approx(1.0, abs=0.02)
    assert (densities[0] - densities[1]).abs().max() > 0.1


def test_samples_invert_to_their_latents_and_follow_the_temperature():
    torch.manual_seed(0)
    cflow = ConditionalFlow((2, 4, 4), 1, 3, num_scales=2, hidden_channels=8, num_blocks=1)
    cflow = cflow.double()
    _randomize(cflow, scale=0.05)  # mild: no sample saturates the logit
    _, c = _inputs(4)
    y = cflow.sample(c, 1.0, torch.Generator().manual_seed(0))
    assert y.shape == (4, 2, 4, 4) and ((y > -0.1) & (y < 1.1)).all()
    z, _ = cflow.flow(y, cflow.encoder(c))
    expected = torch.randn(4, 32, generator=torch.Generator().manual_seed(0), dtype=y.dtype)
    assert torch.allclose(z, expected, atol=1e-5)
    cold = cflow.sample(c, 0.0)
    assert torch.allclose(
        cflow.flow(cold, cflow.encoder(c))[0], torch.zeros(4, 32, dtype=y.dtype), atol=1e-6
    )


def test_a_wrong_condition_is_refused_with_its_shape(cflow):
    y, c = _inputs()
    with pytest.raises(ValueError, match=r"condition must be \(B, 1, 4, 4\)"):
        cflow.log_density(y, c.expand(-1, 3, -1, -1))
    with pytest.raises(ValueError, match="3 images for 2 conditions"):
        cflow.log_density(y, c[:2])
    with pytest.raises(ValueError, match="context sizes"):
        cflow.flow(y, None)


def test_an_unconditional_flow_keeps_its_parameters():
    """context_channels=0 builds exactly the unconditional network (old model files load)."""
    plain = MultiScaleFlow((3, 8, 8), num_scales=2, hidden_channels=8, num_blocks=1)
    keys = {k: v.shape for k, v in plain.state_dict().items()}
    again = MultiScaleFlow((3, 8, 8), 2, 8, 1, context_channels=0)
    assert {k: v.shape for k, v in again.state_dict().items()} == keys
    conditional = MultiScaleFlow((3, 8, 8), 2, 8, 1, context_channels=4)
    assert conditional.state_dict().keys() == plain.state_dict().keys()
    widened = [k for k, v in conditional.state_dict().items() if v.shape != keys[k]]
    assert widened and all(k.endswith("net.net.0.weight") for k in widened)


def test_local_features_are_the_coarse_scale_conditioners_hidden_maps_on_the_image_grid():
    torch.manual_seed(0)
    two = RealNVP((1, 8, 8), levels=17, num_scales=2, hidden_channels=6, num_blocks=1).eval()
    x = torch.randint(0, 17, (3, 1, 8, 8)).float() / 16
    f = two.local_features(x)
    # coarse scale: 3 channel couplings after the squeeze, 4 checkerboard couplings at the end
    assert f.shape == (3, (3 + 4) * 6, 8, 8)
    # upsampled by repetition: each 2x2 block of the grid holds one coarse cell's features
    assert torch.equal(f[..., 0::2, 0::2], f[..., 1::2, 1::2])
    # a change in one corner leaves the features of the far corner as they were
    moved = x.clone()
    moved[:, :, :2, :2] = 1 - moved[:, :, :2, :2]
    g = two.local_features(moved)
    assert not torch.allclose(f[..., :2, :2], g[..., :2, :2])
    assert torch.allclose(f[..., 6:, 6:], g[..., 6:, 6:])
    one = RealNVP((1, 8, 8), levels=17, num_scales=1, hidden_channels=6, num_blocks=1).eval()
    assert one.local_features(x).shape == (3, 4 * 6, 8, 8)  # no coarser scale: all of them
    with pytest.raises(ValueError, match="expects images of shape"):
        two.local_features(torch.zeros(2, 1, 4, 4))

"""The conditional flow p(y | c): exact inverse and log-determinant given a condition, the
condition actually used, a normalized density, clear errors for a wrong condition."""

from __future__ import annotations

import math

import pytest
import torch

from genmodels.flow.conditional import ConditionalFlow
from genmodels.flow.layers import ActNorm, ChannelCoupling, CheckerboardCoupling, SequentialFlow
from genmodels.flow.network import MultiScaleFlow


def _randomize(module: torch.nn.Module, scale: float = 0.3, seed: int = 0) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(scale * torch.randn(p.shape, generator=g, dtype=p.dtype))
    for m in module.modules():
        if isinstance(m, ActNorm):
            m.initialized.fill_(True)


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

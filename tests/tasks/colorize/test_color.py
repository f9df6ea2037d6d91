"""The chroma parameterization: gray reproduced exactly, the uniform posterior really uniform."""

import pytest
import torch
from scipy import stats

from tasks.colorize.color import (
    compose,
    luma,
    overshoot,
    polygon_centroid,
    to_chroma,
    uniform_chroma,
)

# RGB offsets of unit Cb and Cr written out independently of the module (JPEG YCbCr inverse).
_CB = torch.tensor([0.0, -0.344136, 1.772])
_CR = torch.tensor([1.402, -0.714136, 0.0])


def _rejection_chroma(y: float, n: int, seed: int = 0) -> torch.Tensor:
    """Uniform valid chroma at luma ``y`` by brute force: uniform in a box, keep what lands in
    the RGB cube."""
    g = torch.Generator().manual_seed(seed)
    cand = torch.rand(n, 2, generator=g, dtype=torch.float64) - 0.5
    rgb = y + cand[:, :1] * _CB.double() + cand[:, 1:] * _CR.double()
    ok = ((rgb >= 0) & (rgb <= 1)).all(1)
    return cand[ok]


def test_round_trip_of_valid_colours():
    rgb = torch.rand(3, 3, 5, 5, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(compose(luma(rgb), to_chroma(rgb)), rgb, atol=1e-5)


@pytest.mark.parametrize("scale", [0.1, 1.0, 50.0])
def test_any_chroma_reproduces_the_gray_input_and_stays_in_range(scale):
    g = torch.Generator().manual_seed(1)
    gray = torch.rand(4, 1, 6, 6, generator=g)
    gray[0, 0, 0, 0], gray[0, 0, 0, 1] = 0.0, 1.0  # pure black and white pixels too
    chroma = scale * torch.randn(4, 2, 6, 6, generator=g)
    rgb = compose(gray, chroma)
    assert rgb.min() >= 0 and rgb.max() <= 1
    assert (luma(rgb) - gray).abs().max() < 1e-5


def test_overshoot_is_zero_inside_and_positive_outside():
    gray = torch.full((1, 1, 1, 1), 0.5)
    assert overshoot(gray, torch.zeros(1, 2, 1, 1)).item() == 0.0
    assert overshoot(gray, torch.full((1, 2, 1, 1), 3.0)).item() > 1.0


@pytest.mark.parametrize("y", [0.05, 0.3, 0.8])
def test_uniform_chroma_matches_brute_force_rejection(y):
    gray = torch.full((1, 1, 1, 1), y)
    exact = uniform_chroma(gray, 20000, torch.Generator().manual_seed(2)).reshape(-1, 2).double()
    brute = _rejection_chroma(y, 400000)
    assert len(brute) > 2000
    assert overshoot(gray.expand(20000, -1, -1, -1), exact.view(-1, 2, 1, 1)).max() < 1e-12
    for axis in range(2):  # same marginal distributions
        assert stats.ks_2samp(exact[:, axis], brute[:, axis]).pvalue > 1e-3
    assert torch.allclose(exact.mean(0), brute.mean(0), atol=0.01)
    assert torch.allclose(polygon_centroid(gray).flatten().double(), brute.mean(0), atol=0.005)


def test_uniform_chroma_of_black_and_mid_gray():
    gray = torch.tensor([0.0, 0.5]).view(1, 1, 1, 2)
    draws = uniform_chroma(gray, 50, torch.Generator().manual_seed(0))
    assert torch.all(draws[..., 0] == 0)  # black: the only valid colour is black
    assert draws[..., 1].abs().max() > 0.05
    # the mid-gray plane cuts the cube symmetrically: its centroid is gray itself
    assert polygon_centroid(gray).abs().max() < 1e-6

"""What the amortized posteriors share: the estimate is the mean of the posterior's estimate
terms, and its temperature is read on as many validation images as the spec names."""

from __future__ import annotations

import torch
from torch import Tensor

from tasks.colorize.amortized import CalibrationSpec, calibrate_temperature, posterior_mean
from tasks.colorize.color import compose, luma, to_chroma

CB = 0.2  # the Cb the stub's estimate terms give at temperature 1


class _Stub:
    """Draws are gray; estimate terms are ``temperature * CB`` in Cb, plus ``noise`` times a
    seeded normal."""

    def __init__(self, config: CalibrationSpec, noise: float = 0.0) -> None:
        self.config, self.noise = config, noise
        self.terms_are_draws = False
        self.temperature = self.estimate_temperature = 1.0

    def eval(self) -> _Stub:
        return self

    def sample_chroma(self, gray: Tensor, temperature: float, generator=None) -> Tensor:
        return torch.zeros(len(gray), 2, *gray.shape[2:])

    def estimate_chroma(self, gray: Tensor, temperature: float, generator=None) -> Tensor:
        chroma = torch.zeros(len(gray), 2, *gray.shape[2:])
        chroma[:, 0] = temperature * CB
        return chroma + self.noise * torch.randn(chroma.shape, generator=generator)


def _images(cbs: list[float]) -> Tensor:
    gray = torch.full((len(cbs), 1, 4, 4), 0.5)
    chroma = torch.zeros(len(cbs), 2, 4, 4)
    chroma[:, 0] = torch.tensor(cbs)[:, None, None]
    return compose(gray, chroma)


def test_the_estimate_is_the_mean_of_the_posteriors_estimate_terms():
    stub = _Stub(CalibrationSpec(), noise=0.05)
    gray = luma(_images([0.0] * 3))
    estimate = posterior_mean(stub, gray, 400, torch.Generator().manual_seed(0), temperature=0.5)
    assert estimate.shape == (3, 3, 4, 4)
    assert (luma(estimate) - gray).abs().max() < 1e-5  # composed with the gray input
    assert (to_chroma(estimate)[:, 0] - 0.5 * CB).abs().max() < 0.02  # the terms' mean
    assert to_chroma(estimate)[:, 1].abs().max() < 0.02


def test_the_estimate_temperature_is_read_on_estimate_images():
    """The first two validation images are gray (temperature 0 is exact for them), the next
    three have Cb = CB (temperature 1 is): read on two images the choice is 0, on five it is 1,
    though the draws' coverage is read on two either way."""
    val = _images([0.0, 0.0, CB, CB, CB])
    for images, chosen in ((2, 0.0), (5, 1.0)):
        config = CalibrationSpec(
            temperatures=[0.0, 1.0], calibration_images=2, estimate_images=images
        )
        stub = _Stub(config)
        grid = calibrate_temperature(stub, val, torch.Generator().manual_seed(0))
        assert stub.estimate_temperature == chosen, grid

"""Colorizing an image of any size with a flow trained on small ones."""

from __future__ import annotations

import pytest
import torch

from tasks.colorize.chroma_flow import ChromaFlowModule, ConditionalSpec
from tasks.colorize.color import luma, to_chroma
from tasks.colorize.photos import colorize_photo, resized_flow, working_size
from tasks.colorize.regressor import ChromaRegressor
from tasks.colorize.stacking import StackedColorizer

SMALL = ConditionalSpec(
    hidden_channels=4, context_channels=4, num_blocks=1, couplings_per_scale=1, residual=False
)


@pytest.fixture(params=[False, True], ids=["plain", "residual"])
def flow(request):
    torch.manual_seed(0)
    config = SMALL.model_copy(update={"residual": request.param, "mean_width": 4})
    return ChromaFlowModule((8, 8), config)


def test_the_working_size_keeps_the_aspect_and_never_upsamples():
    assert working_size((300, 450), 64) == (43, 64)
    assert working_size((40, 30), 64) == (40, 30)
    assert working_size((300, 450), None) == (300, 450)


def test_a_resized_flow_is_the_same_function_of_its_inputs(flow):
    big = resized_flow(flow, (16, 24))
    assert tuple(big.net.image_shape) == (2, 16, 24)
    for name, tensor in flow.state_dict().items():
        assert torch.equal(big.state_dict()[name], tensor)


def test_the_estimate_is_drawn_at_the_estimate_temperature_and_the_luma_is_kept(flow):
    gray = torch.rand(1, 20, 28, generator=torch.Generator().manual_seed(1))
    flow.temperature, flow.estimate_temperature = 1.0, 0.0
    out = colorize_photo(flow, gray, samples=3, mean_samples=4, chroma_side=None)
    # temperature 0: every averaged draw is the flow's central colouring, so the mean is one
    flow.temperature = 0.0
    central = colorize_photo(flow, gray, samples=1, mean_samples=1, chroma_side=None).estimate
    assert torch.allclose(out.estimate, central, atol=1e-5)
    assert out.samples.shape == (3, 3, 20, 28) and not torch.equal(out.samples[0], out.samples[1])
    assert out.uncertainty.shape == (20, 28) and out.uncertainty.mean() > 0
    for image in (out.estimate, *out.samples):
        assert torch.allclose(luma(image.unsqueeze(0))[0], gray, atol=1e-5)


def test_a_residual_flow_adds_its_forecast_to_every_draw_at_any_size():
    torch.manual_seed(0)
    flow = ChromaFlowModule((8, 8), SMALL.model_copy(update={"residual": True, "mean_width": 4}))
    assert flow.mean_net is not None
    with torch.no_grad():  # a forecast far from zero, so that leaving it out would show
        flow.mean_net.net[-1].bias.copy_(torch.tensor([2.0, -2.0]))
    gray = torch.full((1, 20, 28), 0.5)
    flow.temperature = flow.estimate_temperature = 0.0
    out = colorize_photo(flow, gray, samples=1, mean_samples=1, chroma_side=None)
    chroma = to_chroma(out.estimate.unsqueeze(0)).mean((0, 2, 3))
    assert chroma[0] > 0.1 and chroma[1] < -0.1  # Cb up, Cr down: the forecast's tint


def test_a_stacked_colorizer_mixes_the_posterior_mean_with_the_forecast_at_the_photo_size(flow):
    """The same draws as the posterior alone; the estimate is the weighted mean of the
    posterior's estimate and the regressor's forecast, drawn at the working size and upsampled;
    the luma is kept."""
    torch.manual_seed(1)
    regressor = ChromaRegressor(4).eval()
    with torch.no_grad():  # a forecast far from the flow's, so that a wrong mix would show
        regressor.net[-1].bias.copy_(torch.tensor([3.0, -3.0]))
    gray = torch.rand(1, 20, 28, generator=torch.Generator().manual_seed(2))

    def colored(module):
        return colorize_photo(
            module, gray, 2, 3, chroma_side=12, generator=torch.Generator().manual_seed(3)
        )

    alone, mixed = colored(flow), colored(StackedColorizer(flow, regressor, 0.25))
    assert torch.equal(alone.samples, mixed.samples)
    assert torch.equal(alone.uncertainty, mixed.uncertainty)
    forecast = colored(StackedColorizer(flow, regressor, 0.0)).estimate
    assert torch.allclose(mixed.estimate, 0.25 * alone.estimate + 0.75 * forecast, atol=1e-5)
    chroma = to_chroma(forecast.unsqueeze(0)).mean((0, 2, 3))
    assert chroma[0] > 0.1 and chroma[1] < -0.1  # the forecast's tint, not the flow's
    assert torch.allclose(luma(mixed.estimate.unsqueeze(0))[0], gray, atol=1e-5)

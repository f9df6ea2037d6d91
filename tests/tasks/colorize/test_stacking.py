"""The stacked arm: a posterior's estimate averaged with the regressor's, the weight read on
validation images; it keeps the gray input and never leaves the RGB cube."""

import pydantic
import pytest
import torch

from tasks.colorize import ColorizeSpec
from tasks.colorize.chroma_pixelcnn import (
    ChromaPixelCNNModule,
    PixelCNNSpec,
    is_pixelcnn_file,
    pixelcnn_bytes,
)
from tasks.colorize.color import compose, luma
from tasks.colorize.regressor import ChromaRegressor
from tasks.colorize.stacking import (
    StackedColorizer,
    StackSpec,
    choose_weight,
    is_stacked_file,
    read_stacked,
    stacked,
    stacked_bytes,
)


def _noisy(truth: torch.Tensor, sigma: float, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return truth + sigma * torch.randn(truth.shape, generator=g)


def test_the_weight_follows_the_errors_of_the_two_estimates():
    """Independent errors of spread 0.05 (posterior) and 0.1 (forecast): the squared error of
    the mixture is least at weight 0.1^2 / (0.05^2 + 0.1^2) = 0.8 on the posterior."""
    truth = 0.2 + 0.6 * torch.rand(400, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    posterior, forecast = _noisy(truth, 0.05, 1), _noisy(truth, 0.1, 2)
    weight, grid = choose_weight(posterior, forecast, truth, [round(0.1 * i, 1) for i in range(11)])
    assert weight == pytest.approx(0.8)
    psnr = grid.set_index("weight")["psnr"]
    assert psnr[0.8] > psnr[1.0] + 0.3 and psnr[0.8] > psnr[0.0] + 5
    assert grid["chosen"].sum() == 1 and grid.loc[grid["chosen"], "weight"].item() == weight
    assert choose_weight(truth, forecast, truth, [0.0, 0.5, 1.0])[0] == 1.0
    assert choose_weight(posterior, truth, truth, [0.0, 0.5, 1.0])[0] == 0.0


def test_a_stacked_estimate_keeps_the_gray_input_and_the_rgb_cube():
    g = torch.Generator().manual_seed(3)
    gray = torch.rand(5, 1, 6, 6, generator=g)
    a = compose(gray, 0.5 * torch.rand(5, 2, 6, 6, generator=g) - 0.25)
    b = compose(gray, 0.5 * torch.rand(5, 2, 6, 6, generator=g) - 0.25)
    mixed = stacked(a, b, 0.3)
    assert torch.allclose(mixed, 0.3 * a + 0.7 * b)
    assert (luma(mixed) - gray).abs().max() < 1e-5
    assert mixed.min() >= 0 and mixed.max() <= 1
    with pytest.raises(ValueError, match="one shape"):
        stacked(a, b[:2], 0.5)


def test_the_spec_wants_the_stacked_posterior_listed_first():
    with pytest.raises(pydantic.ValidationError, match="task.stack.arm"):
        ColorizeSpec(arms=["stacked", "conditional-pixelcnn"])
    with pytest.raises(pydantic.ValidationError, match="task.stack.arm"):
        ColorizeSpec(arms=["regressor", "stacked"], stack=StackSpec(arm="conditional"))
    with pytest.raises(pydantic.ValidationError, match=r"\[0, 1\]"):
        StackSpec(weights=[0.5, 1.5])
    assert "stacked" not in ColorizeSpec().arms  # asked for by name only


def test_a_stacked_colorizer_file_round_trips_and_other_files_are_told_apart(tmp_path):
    torch.manual_seed(0)
    config = PixelCNNSpec(codes=3, factor=2, hidden=4, num_blocks=1, context_channels=4)
    posterior = ChromaPixelCNNModule(config, torch.rand(3, 2) - 0.5, torch.tensor([0.01, 0.02]))
    posterior.temperature, posterior.estimate_temperature = 0.8, 0.6
    regressor = ChromaRegressor(6)
    path = tmp_path / "stacked.pt"
    path.write_bytes(stacked_bytes(StackedColorizer(posterior, regressor, 0.4)))
    assert is_stacked_file(path) and not is_pixelcnn_file(path)
    loaded = read_stacked(path)
    assert loaded.weight == 0.4
    assert isinstance(loaded.posterior, ChromaPixelCNNModule)
    assert loaded.posterior.estimate_temperature == 0.6
    for theirs, ours in ((loaded.posterior, posterior), (loaded.regressor, regressor)):
        for name, tensor in ours.state_dict().items():
            assert torch.equal(theirs.state_dict()[name], tensor), name
    assert read_stacked(path, temperature=1.5).posterior.temperature == 1.5
    other = tmp_path / "pixelcnn.pt"
    other.write_bytes(pixelcnn_bytes(posterior))
    not_torch = tmp_path / "notes.txt"
    not_torch.write_text("hello")
    for wrong in (other, not_torch):
        assert not is_stacked_file(wrong)
        with pytest.raises(ValueError, match=str(wrong.name)):
            read_stacked(wrong)

"""The conditional-pixelcnn arm: a palette fit on training colours, draws that reproduce the gray
input, follow the gray where it settles the colour, and choose between colours where it does
not."""

from __future__ import annotations

import pytest
import torch

from genmodels.errors import DataError
from tasks.colorize import ColorizeSpec
from tasks.colorize.amortized import sample_conditional
from tasks.colorize.chroma_pixelcnn import (
    ChromaPixelCNNModule,
    PixelCNNSpec,
    check_pixelcnn_size,
    fit_chroma_pixelcnn,
    fit_palette,
    is_pixelcnn_file,
    nearest_codes,
    pixelcnn_bytes,
    read_pixelcnn,
    within_code_spread,
)
from tasks.colorize.color import compose, luma, to_chroma
from tasks.colorize.experiment import _check_pixelcnn

BLUE, RED, GREEN = (0.15, -0.05), (-0.05, 0.15), (-0.05, -0.12)  # (Cb, Cr)


def _images(n: int, bright: bool, seed: int) -> torch.Tensor:
    """8x8 images of a random gray pattern, one colour each: dark ones blue; bright ones red or
    green at random, which their gray cannot tell."""
    g = torch.Generator().manual_seed(seed)
    gray = (0.55 if bright else 0.2) + 0.2 * torch.rand(n, 1, 8, 8, generator=g)
    if bright:
        red = torch.rand(n, generator=g) < 0.5
        chroma = torch.where(red[:, None], torch.tensor(RED), torch.tensor(GREEN))
    else:
        chroma = torch.tensor(BLUE).expand(n, 2)
    return compose(gray, chroma.view(n, 2, 1, 1).expand(-1, -1, 8, 8).contiguous())


def _world(n: int, seed: int) -> torch.Tensor:
    return torch.cat([_images(n, True, seed), _images(n, False, seed + 100)])


SMALL = PixelCNNSpec(
    codes=3, factor=4, hidden=16, num_blocks=2, context_channels=8, max_epochs=30,
    batch_size=32, patience=0, lr=3e-3, temperature=1.0, mean_samples=4,
)  # fmt: skip


@pytest.fixture(scope="module")
def trained() -> ChromaPixelCNNModule:
    module, grid = fit_chroma_pixelcnn(_world(150, 0), _world(20, 1), SMALL, seed=0)
    assert grid is None  # a fixed temperature: nothing calibrated
    return module


def _mean_chroma(draws: torch.Tensor) -> torch.Tensor:
    """Per draw and image ``(K, B, 2)``."""
    k, b = draws.shape[:2]
    return to_chroma(draws.flatten(0, 1)).mean((2, 3)).view(k, b, 2)


def test_the_palette_holds_the_training_colours_and_names_each_cell_by_its_own():
    world = _world(40, 0)
    palette = fit_palette(world, SMALL, seed=0)
    for colour in (BLUE, RED, GREEN):
        assert (palette - torch.tensor(colour)).norm(dim=1).min() < 0.01, (colour, palette)
    chroma = to_chroma(world)[:, :, ::4, ::4]  # one pixel per 4x4 cell, each a pure colour
    assert (palette[nearest_codes(chroma, palette)].permute(0, 3, 1, 2) - chroma).abs().max() < 0.01


def test_the_within_code_spread_is_what_pooling_removes():
    flat = _world(20, 0)  # one colour per image: the code grid's colours are exact
    palette = fit_palette(flat, SMALL, seed=0)
    assert within_code_spread(flat, SMALL, palette).max() < 0.01
    g = torch.Generator().manual_seed(5)
    speckled = compose(
        luma(flat), to_chroma(flat) + 0.05 * torch.randn(flat[:, :2].shape, generator=g)
    )
    spread = within_code_spread(speckled, SMALL, palette)
    assert spread.min() > 0.03 and spread.max() < 0.07, spread


def test_draws_reproduce_the_gray_input(trained):
    gray = luma(_world(3, 2))
    draws = sample_conditional(trained, gray, 3, torch.Generator().manual_seed(0))
    assert draws.shape == (3, 6, 3, 8, 8)
    assert (luma(draws.flatten(0, 1)) - gray.repeat(3, 1, 1, 1)).abs().max() < 1e-5


def test_draws_follow_the_gray_where_it_settles_the_colour(trained):
    dark = luma(_images(6, False, 3))
    chroma = _mean_chroma(sample_conditional(trained, dark, 10, torch.Generator().manual_seed(0)))
    assert (chroma - torch.tensor(BLUE)).norm(dim=-1).max() < 0.04


def test_draws_choose_between_the_colours_the_gray_cannot_tell_apart(trained):
    """Bright images: each draw is red or green as a whole (not their blend), and both colours
    are drawn often; the estimate, their mean, lies between them."""
    bright = luma(_images(8, True, 4))
    draws = sample_conditional(trained, bright, 40, torch.Generator().manual_seed(0))
    chroma = _mean_chroma(draws)  # (40, 8, 2)
    to_red = (chroma - torch.tensor(RED)).norm(dim=-1)
    to_green = (chroma - torch.tensor(GREEN)).norm(dim=-1)
    red, green = to_red < 0.05, to_green < 0.05
    assert (red | green).float().mean() > 0.9
    assert 0.2 < red.float().mean() < 0.8
    mean = chroma.mean(0)
    midpoint = (torch.tensor(RED) + torch.tensor(GREEN)) / 2
    assert (mean - midpoint).norm(dim=-1).mean() < 0.06


def test_the_estimate_terms_have_the_draws_mean_with_less_variance(trained):
    """Rao-Blackwell: each cell's colour replaced by its expectation under the categorical it
    is drawn from keeps the mean of the draws and lowers the variance (the first cell's to
    zero: it depends on the gray image alone); at temperature 0 the term is the draw."""
    bright = luma(_images(8, True, 6))
    g = torch.Generator().manual_seed(0)
    draws = torch.stack([trained.sample_chroma(bright, 1.0, g) for _ in range(200)])
    terms = torch.stack([trained.estimate_chroma(bright, 1.0, g) for _ in range(200)])
    assert (draws.mean(0) - terms.mean(0)).abs().mean() < 0.01
    assert terms.var(0).mean() < 0.85 * draws.var(0).mean(), (
        terms.var(0).mean(),
        draws.var(0).mean(),
    )
    at_zero = trained.estimate_chroma(bright, 0.0, g)
    assert torch.equal(at_zero, trained.sample_chroma(bright, 0.0, g))


def test_temperature_zero_draws_the_same_colouring_every_time(trained):
    gray = luma(_world(2, 5))
    draws = sample_conditional(trained, gray, 3, torch.Generator().manual_seed(0), temperature=0.0)
    assert torch.equal(draws[0], draws[1]) and torch.equal(draws[0], draws[2])


def test_the_true_codes_of_held_out_images_cost_fewer_bits_than_swapped_ones(trained):
    dark = _images(6, False, 7)
    painted_red = compose(luma(dark), torch.tensor(RED).view(1, 2, 1, 1).expand(6, -1, 8, 8))
    with torch.no_grad():
        assert (trained.bits_per_code(dark) + 1.0 < trained.bits_per_code(painted_red)).all()


def test_calibration_picks_a_grid_temperature_on_validation_images():
    config = SMALL.model_copy(
        update={"temperature": "calibrate", "temperatures": [0.0, 1.0], "max_epochs": 3}
    )
    module, grid = fit_chroma_pixelcnn(_world(40, 0), _world(10, 1), config, seed=0)
    assert grid is not None and list(grid["temperature"]) == [0.0, 1.0]
    assert module.temperature == float(grid.loc[grid["chosen"], "temperature"].iloc[0])
    chosen = grid.loc[grid["chosen_for_estimate"], "temperature"].iloc[0]
    assert module.estimate_temperature == float(chosen)


def test_images_that_do_not_tile_into_the_code_grid_are_refused_by_name():
    with pytest.raises(ValueError, match=r"10x8 .*task.pixelcnn.factor"):
        check_pixelcnn_size(SMALL, (10, 8))
    with pytest.raises(ValueError, match="lower task.pixelcnn.codes"):
        fit_palette(_world(1, 0)[:1], SMALL.model_copy(update={"codes": 64}), seed=0)


def test_the_arm_runs_only_when_a_spec_names_it_and_a_bad_size_is_a_data_error():
    assert "conditional-pixelcnn" not in ColorizeSpec().arms
    named = ColorizeSpec(arms=["gray", "conditional-pixelcnn"])
    with pytest.raises(DataError, match="divisible"):
        _check_pixelcnn(named, (3, 28, 28))  # the task's entry point refuses before training
    _check_pixelcnn(ColorizeSpec(arms=["gray"]), (3, 28, 28))  # not named: any size will do


def test_a_saved_pixelcnn_draws_as_the_trained_one_and_other_files_are_refused(trained, tmp_path):
    trained.temperature, trained.estimate_temperature = 0.8, 0.3
    path = tmp_path / "pixelcnn.pt"
    path.write_bytes(pixelcnn_bytes(trained))
    assert is_pixelcnn_file(path)
    read = read_pixelcnn(path)
    assert (read.temperature, read.estimate_temperature) == (0.8, 0.3)
    gray = luma(_world(2, 9))
    a = sample_conditional(trained, gray, 2, torch.Generator().manual_seed(0))
    b = sample_conditional(read, gray, 2, torch.Generator().manual_seed(0))
    assert torch.equal(a, b)
    assert read_pixelcnn(path, temperature=0.0).estimate_temperature == 0.0
    other = tmp_path / "other.pt"
    torch.save({"kind": "priorworks-chroma-flow"}, other)
    assert not is_pixelcnn_file(other) and not is_pixelcnn_file(tmp_path / "missing.pt")
    with pytest.raises(ValueError, match="not a conditional-PixelCNN file"):
        read_pixelcnn(other)
    trained.temperature = trained.estimate_temperature = 1.0

"""The conditional arm p(chroma | gray): exact draws that reproduce the gray input, follow the
gray where it settles the colour, and spread as the truth does where it does not."""

from __future__ import annotations

import copy

import pytest
import torch

from tasks.colorize.amortized import calibrate_temperature, sample_conditional
from tasks.colorize.chroma_flow import (
    ChromaFlowModule,
    ConditionalSpec,
    fit_conditional,
    load_conditional,
    read_conditional,
    save_conditional,
    train_conditional,
)
from tasks.colorize.color import compose, luma, to_chroma
from tasks.colorize.regressor import RegressorSpec

BLUE = (0.15, -0.05)  # (Cb, Cr)
SPREAD = 0.15  # bright images: Cr uniform in [-SPREAD, SPREAD], Cb 0


def _images(n: int, bright: bool, seed: int) -> torch.Tensor:
    """8x8 images of a random gray pattern: dark ones are blue; bright ones get a random tint
    from red to green, which their gray cannot tell."""
    g = torch.Generator().manual_seed(seed)
    gray = (0.55 if bright else 0.2) + 0.2 * torch.rand(n, 1, 8, 8, generator=g)
    if bright:
        cr = SPREAD * (2 * torch.rand(n, generator=g) - 1)
        chroma = torch.stack([torch.zeros(n), cr], 1)
    else:
        chroma = torch.tensor(BLUE).expand(n, 2)
    return compose(gray, chroma.view(n, 2, 1, 1).expand(-1, -1, 8, 8).contiguous())


def _world(n: int, seed: int) -> torch.Tensor:
    return torch.cat([_images(n, True, seed), _images(n, False, seed + 100)])


@pytest.fixture(scope="module")
def trained():
    config = ConditionalSpec(
        max_epochs=25,
        batch_size=32,
        patience=0,
        lr=3e-3,
        num_scales=2,
        hidden_channels=16,
        num_blocks=1,
        couplings_per_scale=3,
        context_channels=8,
        residual=False,
    )
    return train_conditional(_world(200, 0), _world(20, 1), config, seed=0)


def _mean_chroma(rgb: torch.Tensor) -> torch.Tensor:
    return to_chroma(rgb.flatten(0, 1) if rgb.ndim == 5 else rgb).mean((2, 3))


def test_draws_reproduce_the_gray_input(trained):
    gray = luma(_world(4, 2))  # 8 images
    draws = sample_conditional(trained, gray, 3, torch.Generator().manual_seed(0))
    assert draws.shape == (3, 8, 3, 8, 8)
    assert (draws >= 0).all() and (draws <= 1).all()
    assert (luma(draws.flatten(0, 1)) - gray.repeat(3, 1, 1, 1)).abs().max() < 1e-5


def test_draws_follow_the_gray_where_it_settles_the_colour(trained):
    dark = luma(_images(6, False, 3))
    chroma = _mean_chroma(sample_conditional(trained, dark, 10, torch.Generator().manual_seed(0)))
    assert (chroma - torch.tensor(BLUE)).norm(dim=1).max() < 0.05  # every draw is blue


def test_draws_spread_where_the_gray_cannot_tell_and_not_where_it_can(trained):
    """Bright test images: the draws' tints spread over the red-green range the training tints
    covered (a short training under-disperses: at least 0.3 of the truth's spread is asked) and
    each draw is one coherent tint, not per-pixel noise. Dark ones: every draw the same blue."""

    def tints(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        draws = sample_conditional(trained, luma(images), 40, torch.Generator().manual_seed(0))
        cr = to_chroma(draws.flatten(0, 1))[:, 1].view(40, len(images), -1)
        return cr.mean(2).std(0), cr.std(2).mean(0)  # across draws; within a draw

    truth_spread = SPREAD / 3**0.5  # the std of a uniform tint on [-SPREAD, SPREAD]
    across, within = tints(_images(6, True, 4))
    assert 0.3 * truth_spread < across.mean() < 1.5 * truth_spread, across
    assert (within < 0.5 * across).all()
    dark_across, _ = tints(_images(6, False, 3))
    assert dark_across.max() < 0.2 * across.mean()


def test_the_true_colours_are_likelier_than_wrong_ones(trained):
    """Held-out bits/dim of the true chroma given gray: dark images are blue, so the same gray
    painted red-tinted costs more bits, and so does the blue on bright images."""
    dark, bright = _images(6, False, 5), _images(6, True, 6)
    red = torch.tensor([0.0, SPREAD]).view(1, 2, 1, 1).expand(6, -1, 8, 8)
    blue = torch.tensor(BLUE).view(1, 2, 1, 1).expand(6, -1, 8, 8)
    with torch.no_grad():
        true_dark = trained.bits_per_dim(dark, dequantize=False)
        wrong_dark = trained.bits_per_dim(compose(luma(dark), red), dequantize=False)
        true_bright = trained.bits_per_dim(bright, dequantize=False)
        wrong_bright = trained.bits_per_dim(compose(luma(bright), blue), dequantize=False)
    assert (true_dark < wrong_dark - 1).all() and (true_bright < wrong_bright - 1).all()


def test_a_saved_flow_loads_with_its_architecture_and_scores_the_same(trained, tmp_path):
    path = save_conditional(trained, tmp_path / "flow.pt")
    loaded = load_conditional(path, trained.config, (8, 8))
    images = _world(3, 7)
    with torch.no_grad():
        assert torch.equal(
            loaded.bits_per_dim(images, dequantize=False),
            trained.bits_per_dim(images, dequantize=False),
        )


def test_a_flow_built_otherwise_is_refused_by_name(trained, tmp_path):
    path = save_conditional(trained, tmp_path / "flow.pt")
    wider = trained.config.model_copy(update={"hidden_channels": 32, "context_channels": 4})
    with pytest.raises(ValueError, match=r"hidden_channels: file 16, spec 32, context_channels"):
        load_conditional(path, wider, (8, 8))
    with pytest.raises(ValueError, match=r"image_size: file \[8, 8\], spec \[16, 16\]"):
        load_conditional(path, trained.config, (16, 16))
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(3)}, other)
    with pytest.raises(ValueError, match="is not a conditional-flow file"):
        load_conditional(other, trained.config, (8, 8))
    (tmp_path / "junk.pt").write_text("not a torch file")
    with pytest.raises(ValueError, match="cannot be read"):
        load_conditional(tmp_path / "junk.pt", trained.config, (8, 8))


def test_calibration_picks_the_temperature_whose_intervals_cover_best_on_validation(trained):
    flow = copy.deepcopy(trained)
    flow.config = flow.config.model_copy(
        update={"temperatures": [0.0, 1.0, 4.0], "calibration_images": 40, "calibration_draws": 8}
    )
    grid = calibrate_temperature(flow, _world(20, 5), torch.Generator().manual_seed(0))
    assert list(grid["temperature"]) == [0.0, 1.0, 4.0]
    # the interval widens with the temperature: coverage grows
    assert grid["coverage_90"].is_monotonic_increasing and grid["coverage_50"].iloc[0] < 0.2
    chosen = grid[grid["chosen"]]
    assert len(chosen) == 1 and chosen["miss"].iloc[0] == grid["miss"].min()
    assert flow.temperature == chosen["temperature"].iloc[0]
    # the estimate's temperature: the sharpest mean on validation (temperature 0 draws the
    # flow's central colouring, far from the truth where the gray cannot tell the tint)
    sharpest = grid[grid["chosen_for_estimate"]]
    assert sharpest["psnr_of_mean"].iloc[0] == grid["psnr_of_mean"].max()
    assert flow.estimate_temperature == sharpest["temperature"].iloc[0]
    expected = (grid["coverage_50"] - 0.5).abs() + (grid["coverage_90"] - 0.9).abs()
    assert grid["miss"].to_numpy() == pytest.approx(expected.to_numpy())


def test_the_temperature_travels_with_the_file_and_can_be_overridden(trained, tmp_path):
    flow = copy.deepcopy(trained)
    flow.temperature, flow.estimate_temperature = 1.4, 0.8
    path = save_conditional(flow, tmp_path / "flow.pt")
    read = read_conditional(path)
    assert (read.temperature, read.estimate_temperature) == (1.4, 0.8)
    forced = read_conditional(path, 0.5)  # one temperature for samples and estimate alike
    assert (forced.temperature, forced.estimate_temperature) == (0.5, 0.5)
    fixed = ConditionalSpec(temperature=0.7, residual=False)
    assert ChromaFlowModule((8, 8), fixed).temperature == 0.7
    calibrated = ConditionalSpec(temperature="calibrate", residual=False)
    assert ChromaFlowModule((8, 8), calibrated).temperature == 1.0
    with pytest.raises(ValueError, match="temperature"):
        ConditionalSpec(temperature=-1.0)
    with pytest.raises(ValueError):
        ConditionalSpec(temperature="hot")


@pytest.fixture(scope="module")
def residual():
    """A residual flow on the same world: a regressor forecast first, the flow on what it
    misses."""
    config = ConditionalSpec(
        max_epochs=10, batch_size=32, patience=0, lr=3e-3, num_scales=2, hidden_channels=16,
        num_blocks=1, couplings_per_scale=3, context_channels=8, residual=True, mean_width=8,
    )  # fmt: skip
    settings = RegressorSpec(max_epochs=10, patience=0, width=8)
    return train_conditional(_world(200, 0), _world(20, 1), config, seed=0, mean=settings)


def test_a_residual_flow_centres_its_draws_on_its_frozen_forecast(residual):
    """The forecast learns each world's mean tint (blue when dark, no tint when bright); the
    flow adds the spread the gray cannot settle around it, and its training leaves the
    forecast, batch-norm statistics included, as the regressor left it."""
    assert residual.mean_net is not None
    assert not any(p.requires_grad for p in residual.mean_net.parameters())
    assert all(p.requires_grad for p in residual.net.parameters())
    dark, bright = _images(6, False, 3), _images(6, True, 4)
    forecast = residual.mean_net.eval()(luma(dark)).mean((2, 3))
    assert (forecast - torch.tensor(BLUE)).norm(dim=1).max() < 0.05
    dark_draws = _mean_chroma(sample_conditional(residual, luma(dark), 10))
    assert (dark_draws - torch.tensor(BLUE)).norm(dim=1).max() < 0.05
    draws = sample_conditional(residual, luma(bright), 40, torch.Generator().manual_seed(0))
    cr = to_chroma(draws.flatten(0, 1))[:, 1].view(40, 6, -1).mean(2)
    assert cr.std(0).mean() > 0.3 * SPREAD / 3**0.5  # tints spread, not just the forecast
    assert cr.mean().abs() < 0.5 * SPREAD
    state = copy.deepcopy(residual.mean_net.state_dict())
    again = train_conditional(
        _world(40, 0), _world(10, 1), residual.config.model_copy(update={"max_epochs": 1}),
        seed=1, mean=residual.mean_net,
    )  # fmt: skip
    assert again.mean_net is not None
    again.train()  # whoever switches the flow to training leaves the forecast frozen
    assert again.training and not again.mean_net.training
    for key, value in again.mean_net.state_dict().items():
        assert torch.equal(value, state[key]), key


def test_a_residual_flow_travels_in_its_file_with_its_forecast(residual, tmp_path):
    path = save_conditional(residual, tmp_path / "flow.pt")
    read = read_conditional(path)
    assert read.config.residual and read.config.mean_width == 8
    images = _world(3, 7)
    with torch.no_grad():
        assert torch.equal(
            read.bits_per_dim(images, dequantize=False),
            residual.bits_per_dim(images, dequantize=False),
        )
    plain = residual.config.model_copy(update={"residual": False})
    with pytest.raises(ValueError, match="residual: file True, spec False"):
        load_conditional(path, plain, (8, 8))
    with pytest.raises(ValueError, match="residual: false"):
        ChromaFlowModule((8, 8), plain).set_mean(residual.mean_net)


def test_a_file_from_before_the_residual_option_reads_as_a_plain_flow(trained, tmp_path):
    path = save_conditional(trained, tmp_path / "flow.pt")
    saved = torch.load(path, weights_only=True)
    for key in ("residual", "mean_width"):
        del saved["architecture"][key]
    torch.save(saved, path)
    read = read_conditional(path)
    assert not read.config.residual and read.mean_net is None
    assert load_conditional(path, trained.config, (8, 8)).mean_net is None


@pytest.mark.parametrize("temperature", ["calibrate", 0.8])
def test_choose_trains_both_forms_and_keeps_the_sharper_estimate_on_validation(temperature):
    config = ConditionalSpec(
        max_epochs=2, batch_size=32, patience=0, hidden_channels=4, num_blocks=1,
        couplings_per_scale=1, context_channels=4, mean_width=4, temperature=temperature,
        temperatures=[0.0, 1.0], calibration_draws=4,
    )  # fmt: skip
    assert config.residual == "choose"  # the default
    flow, grid = fit_conditional(
        _world(40, 0), _world(10, 1), config, seed=0, mean=RegressorSpec(max_epochs=2)
    )
    assert set(grid["residual"]) == {False, True}
    assert len(grid) == (4 if temperature == "calibrate" else 2)
    if temperature != "calibrate":
        assert (grid["temperature"] == 0.8).all()
        assert flow.temperature == flow.estimate_temperature == 0.8
    estimates = grid[grid["chosen_for_estimate"]].set_index("residual")["psnr_of_mean"]
    kept = grid.loc[grid["kept"], "residual"]
    assert kept.nunique() == 1 and bool(kept.iloc[0]) == flow.config.residual
    assert estimates[flow.config.residual] == estimates.max()
    assert (flow.mean_net is not None) == flow.config.residual


def test_a_flow_is_built_and_trained_in_one_form(tmp_path, trained, residual):
    choose = ConditionalSpec()
    with pytest.raises(ValueError, match="not 'choose'"):
        ChromaFlowModule((8, 8), choose)
    with pytest.raises(ValueError, match="fit_conditional chooses"):
        train_conditional(_world(4, 0), _world(4, 1), choose, seed=0)
    for flow in (trained, residual):  # a spec that chooses loads either form
        path = save_conditional(flow, tmp_path / "flow.pt")
        either = flow.config.model_copy(update={"residual": "choose"})
        assert load_conditional(path, either, (8, 8)).config.residual == flow.config.residual

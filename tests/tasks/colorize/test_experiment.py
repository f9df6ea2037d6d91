"""The colorization experiment: every arm reproduces the gray input, only training colours are
learned from, seeds reproduce the table, unusable priors are refused."""

import numpy as np
import pytest
import torch
from zoo_params import tiny_params

from genmodels.errors import CapabilityError
from genmodels.registry import get_model_class
from tasks.colorize import ColorizeSpec, run_colorize
from tasks.colorize.chroma_flow import ConditionalSpec
from tasks.colorize.chroma_pixelcnn import PixelCNNSpec
from tasks.colorize.color import luma, to_chroma
from tasks.colorize.metrics import colourfulness
from tasks.colorize.regressor import RegressorSpec, regress_colorize
from tasks.colorize.stacking import StackSpec

FAST = dict(starts=2, map_steps=10, samples=2, langevin_steps=8, adapt_steps=4)


def _tinted(n: int, tint: tuple[float, float, float], seed: int) -> torch.Tensor:
    """Colour 6x6 images: random brightness patterns times a colour tint."""
    g = torch.Generator().manual_seed(seed)
    pattern = 0.3 + 0.6 * torch.rand(n, 1, 6, 6, generator=g)
    return (pattern * torch.tensor(tint).view(1, 3, 1, 1)).clamp(0, 1)


@pytest.fixture(scope="module")
def data():
    blue = (0.35, 0.5, 1.0)
    return _tinted(60, blue, 0), _tinted(12, blue, 1), _tinted(6, (1.0, 0.45, 0.3), 2)  # red test


@pytest.fixture(scope="module")
def gmm_prior(data):
    train = data[0]
    cls = get_model_class("gmm")
    model = cls((3, 6, 6), 256, **tiny_params(cls))
    model.fit_closed_form(train, torch.Generator().manual_seed(0))
    return model


ARMS = ("uniform", "mean-chroma", "model", "regressor", "conditional")
SMALL_CONDITIONAL = ConditionalSpec(
    max_epochs=15, batch_size=16, patience=0, lr=3e-3, hidden_channels=8, num_blocks=1,
    couplings_per_scale=1, context_channels=4, mean_samples=2, residual=False,
)  # fmt: skip


def _config(arms=ARMS) -> ColorizeSpec:
    regressor = RegressorSpec(max_epochs=40, patience=0, lr=5e-3)
    return ColorizeSpec(arms=list(arms), regressor=regressor, conditional=SMALL_CONDITIONAL, **FAST)


def test_every_arm_reproduces_the_gray_input_and_fills_the_table(data, gmm_prior):
    train, val, test = data
    result = run_colorize(gmm_prior, train, val, test, _config(), 0, log=lambda _: None)
    assert set(result.outputs) == set(ARMS)
    for out in result.outputs.values():
        assert out.estimate.shape == test.shape
    consistency = result.summary.query("metric == 'consistency'").set_index("arm")["mean"]
    assert (consistency < 1e-5).all()
    psnr = result.summary.query("metric == 'psnr'").set_index("arm")["mean"]
    assert psnr["truth"] == 100.0 and psnr.drop("truth").lt(100).all()
    diverse = result.summary.query("metric == 'diversity'").set_index("arm")["mean"]
    assert set(diverse.index) == {"uniform", "mean-chroma", "model", "conditional"}  # sampling
    conditional = result.outputs["conditional"]
    assert conditional.samples is not None and (conditional.samples.accept_rate == 1).all()
    rows = result.per_image.query("arm == 'conditional'").sort_values("image")
    has_bpd = result.per_image.dropna(subset=["truth_bpd"])
    assert set(has_bpd["arm"]) == {"conditional", "uniform"}  # the arms with a normalized density
    assert len(has_bpd) == 2 * len(test)
    # every arm has an energy score (a point forecast where it has no draws); coverage only
    # where it samples
    scored = result.per_image.dropna(subset=["energy_score"])
    assert set(scored["arm"]) == {*ARMS, "truth"}
    assert (scored.query("arm == 'truth'")["energy_score"] == 0).all()
    covered = result.per_image.dropna(subset=["coverage_50", "coverage_90"])
    assert set(covered["arm"]) == {"uniform", "mean-chroma", "model", "conditional"}
    assert (covered["coverage_90"] >= 0).all() and (covered["coverage_90"] <= 1).all()
    # the flow's temperature was chosen on the validation images, from the spec's grid
    grid = result.calibration
    assert grid is not None and list(grid["temperature"]) == SMALL_CONDITIONAL.temperatures
    assert result.conditional.temperature == grid.loc[grid["chosen"], "temperature"].item()
    best_mean = grid.loc[grid["psnr_of_mean"].idxmax(), "temperature"]
    assert result.conditional.estimate_temperature == best_mean
    ratio = result.summary.query("metric == 'sample_colourfulness_ratio'").set_index("arm")
    expected = rows["sample_colourfulness"].mean() / colourfulness(test).double().mean().item()
    assert ratio.loc["conditional", "mean"] == pytest.approx(expected)
    per_draw = torch.stack([colourfulness(d) for d in conditional.samples.rgb])  # (k, images)
    assert rows["sample_colourfulness"].to_numpy() == pytest.approx(per_draw.mean(0).numpy())
    # gaps to the truth's colourfulness, image by image (of the estimate, and of each draw)
    truth_colour = colourfulness(test).numpy()
    gap = np.abs(colourfulness(conditional.estimate).numpy() - truth_colour)
    assert rows["colourfulness_gap"].to_numpy() == pytest.approx(gap)
    draw_gap = np.abs(per_draw.numpy() - truth_colour).mean(0)
    assert rows["sample_colourfulness_gap"].to_numpy() == pytest.approx(draw_gap)


def test_colours_come_from_the_training_images_only(data, gmm_prior):
    """Blue training images, red test images: arms that learn colours paint the test blue."""
    train, val, test = data
    result = run_colorize(gmm_prior, train, val, test, _config(), 0, log=lambda _: None)
    assert to_chroma(test)[:, 0].mean() < -0.05  # the truth is red: Cb < 0
    for arm in ("mean-chroma", "model", "regressor", "conditional"):
        cb = to_chroma(result.outputs[arm].estimate)[:, 0].mean()
        assert cb > 0.05, f"arm {arm} did not learn the training colours (Cb {cb:.3f})"


def test_a_fixed_temperature_is_used_as_given(data, gmm_prior):
    train, val, test = data
    fixed = SMALL_CONDITIONAL.model_copy(update={"temperature": 0.3})
    config = _config(("conditional",)).model_copy(update={"conditional": fixed})
    result = run_colorize(gmm_prior, train, val, test, config, 0, log=lambda _: None)
    flow = result.conditional
    assert flow.temperature == flow.estimate_temperature == 0.3
    # nothing calibrated: the validation grid holds that one temperature, for the record
    assert list(result.calibration["temperature"]) == [0.3]
    # mean_samples == samples == 2 here: the estimate is the mean of exactly the reported draws
    out = result.outputs["conditional"]
    assert torch.allclose(out.estimate, out.samples.rgb.mean(0))


def test_the_pixelcnn_arm_draws_learns_the_training_colours_and_calibrates_on_validation(data):
    train, val, test = data
    pixelcnn = PixelCNNSpec(
        codes=4, factor=3, hidden=8, num_blocks=1, context_channels=4, max_epochs=15,
        patience=0, lr=3e-3, temperatures=[0.5, 1.0], calibration_draws=2, mean_samples=3,
    )  # fmt: skip
    config = _config(("gray", "conditional-pixelcnn")).model_copy(update={"pixelcnn": pixelcnn})
    result = run_colorize(None, train, val, test, config, 0, log=lambda _: None)
    out = result.outputs["conditional-pixelcnn"]
    assert out.samples is not None and out.samples.rgb.shape == (2, *test.shape)
    assert (luma(out.estimate) - luma(test)).abs().max() < 1e-5
    assert to_chroma(out.estimate)[:, 0].mean() > 0.05  # the training images are blue
    assert list(result.pixelcnn_calibration["temperature"]) == [0.5, 1.0]
    covered = result.per_image.dropna(subset=["coverage_90"])
    assert set(covered["arm"]) == {"conditional-pixelcnn"}
    assert "truth_bpd" not in result.per_image  # its density is over codes, not chroma


def test_the_pixelcnn_arm_refuses_images_it_cannot_tile_before_training(data, monkeypatch):
    train, val, test = data
    monkeypatch.setattr(
        "tasks.colorize.experiment.fit_chroma_pixelcnn",
        lambda *a, **k: pytest.fail("trained before the size was checked"),
    )
    config = _config(("gray", "conditional-pixelcnn"))  # factor 8 against 6x6 images
    with pytest.raises(ValueError, match="6x6"):
        run_colorize(None, train, val, test, config, 0, log=lambda _: None)


def _count_regressor_trainings(monkeypatch, *modules) -> list[int]:
    """Spy on ``train_regressor`` where each of ``modules`` calls it; one entry per training."""
    calls: list[int] = []
    real = modules[0].train_regressor

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    for module in modules:
        monkeypatch.setattr(module, "train_regressor", counted)
    return calls


@pytest.mark.parametrize("order", [("regressor", "conditional"), ("conditional", "regressor")])
def test_a_residual_flow_and_the_regressor_arm_share_one_trained_regressor(
    data, order, monkeypatch
):
    """Whichever arm runs first trains the regressor; the other reuses it: one training, the
    regressor arm's estimate is the flow's forecast."""
    import tasks.colorize.chroma_flow as chroma_flow
    import tasks.colorize.experiment as experiment

    calls = _count_regressor_trainings(monkeypatch, experiment, chroma_flow)
    train, val, test = data
    residual = SMALL_CONDITIONAL.model_copy(update={"residual": True, "mean_width": 8})
    config = _config(order).model_copy(
        update={"conditional": residual, "regressor": RegressorSpec(max_epochs=5, width=8)}
    )
    result = run_colorize(None, train, val, test, config, 0, log=lambda _: None)
    assert len(calls) == 1
    flow = result.conditional
    assert flow is not None and flow.mean_net is not None
    forecast = regress_colorize(flow.mean_net, luma(test))
    assert torch.equal(result.outputs["regressor"].estimate, forecast)


def test_the_stacked_arm_mixes_the_two_estimates_it_sits_beside(data, monkeypatch):
    """The weight is read on validation images only; the arm's estimate is that mixture of the
    posterior's and the regressor arm's estimates, and the regressor is trained once."""
    import tasks.colorize.experiment as experiment

    calls = _count_regressor_trainings(monkeypatch, experiment)
    train, val, test = data
    seen = []
    real_weight = experiment.weight_on_validation

    def watched(module, regressor, val_rgb, config, generator=None):
        seen.append(val_rgb)
        return real_weight(module, regressor, val_rgb, config, generator)

    monkeypatch.setattr(experiment, "weight_on_validation", watched)
    stack = StackSpec(arm="conditional", weights=[0.0, 0.25, 0.5, 0.75, 1.0], images=8)
    config = ColorizeSpec(
        arms=["conditional", "stacked", "regressor"],
        regressor=_config().regressor,
        conditional=SMALL_CONDITIONAL,
        stack=stack,
        **FAST,
    )
    result = run_colorize(None, train, val, test, config, 0, log=lambda _: None)
    assert len(calls) == 1 and len(seen) == 1 and torch.equal(seen[0], val)
    grid = result.stacking
    assert grid is not None and list(grid["weight"]) == stack.weights
    weight = grid.loc[grid["chosen"], "weight"].item()
    assert grid.loc[grid["chosen"], "psnr"].item() == grid["psnr"].max()
    mixed = (
        weight * result.outputs["conditional"].estimate
        + (1 - weight) * result.outputs["regressor"].estimate
    )
    out = result.outputs["stacked"]
    assert torch.allclose(out.estimate, mixed, atol=1e-6)
    assert out.samples is None
    assert (luma(out.estimate) - luma(test)).abs().max() < 1e-5


def test_seeds_reproduce_the_numbers(data, gmm_prior):
    train, val, test = data
    config = _config(("uniform", "mean-chroma", "model"))
    a = run_colorize(gmm_prior, train, val, test, config, 0, log=lambda _: None)
    b = run_colorize(gmm_prior, train, val, test, config, 0, log=lambda _: None)
    cols = [c for c in a.per_image.columns if c != "seconds"]
    assert a.per_image[cols].equals(b.per_image[cols])


def test_priors_that_cannot_serve_are_refused(data):
    train, val, test = data
    cls = get_model_class("pixelcnn")
    pixelcnn = cls((3, 6, 6), 256, **tiny_params(cls))
    with pytest.raises(CapabilityError, match="differentiable"):
        run_colorize(pixelcnn, train, val, test, _config(), 0, log=lambda _: None)
    gray_model = get_model_class("ppca")((1, 6, 6), 256)
    with pytest.raises(ValueError, match="3-channel"):
        run_colorize(gray_model, train, val, test, _config(), 0, log=lambda _: None)
    with pytest.raises(ValueError, match="colour images"):
        run_colorize(None, train, val, test[:, :1], _config(("uniform",)), 0, log=lambda _: None)
    with pytest.raises(ValueError, match="needs a trained generative model"):
        run_colorize(None, train, val, test, _config(("model",)), 0, log=lambda _: None)
    deep = ColorizeSpec(arms=["conditional"], conditional=ConditionalSpec(num_scales=3), **FAST)
    with pytest.raises(ValueError, match="divisible by 4; the images are 6x6"):
        run_colorize(None, train, val, test, deep, 0, log=lambda _: None)


def test_posterior_mean_estimate_is_the_mean_of_dispersed_chains(data, gmm_prior):
    train, val, test = data
    config = ColorizeSpec(
        arms=["mean-chroma", "model"], map_steps=10, samples=3, langevin_steps=8, adapt_steps=4,
        chain_start="dispersed", estimate="posterior-mean",
    )  # fmt: skip
    result = run_colorize(gmm_prior, train, val, test, config, 0, log=lambda _: None)
    for arm in ("mean-chroma", "model"):
        out = result.outputs[arm]
        assert out.samples is not None and out.samples.rgb.shape[0] == 3
        assert torch.allclose(out.estimate, out.samples.rgb.mean(0))
        assert not torch.equal(out.samples.rgb[0], out.samples.rgb[1])  # distinct chains
        assert out.map is not None and not torch.allclose(out.map, out.estimate)
    assert "map_psnr" in result.per_image and "map_colourfulness" in result.per_image
    psnr = result.summary.query("metric in ['psnr', 'sample_mean_psnr']")
    for _, group in psnr.groupby("arm"):
        if len(group) == 2:
            assert group["mean"].iloc[0] == pytest.approx(group["mean"].iloc[1], abs=1e-4)


def test_the_gray_arm_does_nothing_and_psnr_is_also_read_over_the_set(data):
    """The gray image itself is the baseline every arm must beat; the PSNR of the set comes from
    the pooled MSE, and already-gray images are counted apart (they score the 100 dB cap)."""
    train, val, test = data
    gray_truth = test[:2].mean(1, keepdim=True).expand(-1, 3, -1, -1)  # two gray test images
    mixed = torch.cat([gray_truth, test[2:]])
    result = run_colorize(None, train, val, mixed, _config(("gray",)), 0, log=lambda _: None)
    out = result.outputs["gray"].estimate
    assert torch.allclose(out[:, 0], out[:, 1]) and torch.allclose(out[:, 1], out[:, 2])
    rows = result.per_image.query("arm == 'gray'").sort_values("image")
    assert rows["colourfulness"].max() < 1e-9 and rows["consistency"].max() < 1e-6
    assert rows["truth_is_gray"].tolist() == [1.0, 1.0, 0.0, 0.0, 0.0, 0.0]
    summary = result.summary.query("arm == 'gray'").set_index("metric")["mean"]
    mse = ((out - mixed) ** 2).flatten(1).mean(1).double()
    assert summary["psnr_pooled"] == pytest.approx(float(10 * torch.log10(1 / mse.mean())))
    assert summary["psnr_median"] == pytest.approx(float(rows["psnr"].median()))
    assert summary["psnr_colour_images"] == pytest.approx(float(rows["psnr"].iloc[2:].mean()))
    assert summary["psnr"] > summary["psnr_colour_images"]  # the capped gray images lift it

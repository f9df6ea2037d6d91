"""The colorization experiment: every arm on the same gray test images, one table.

Arms (all reproduce the gray input exactly; they differ in the prior over colour):
- ``uniform``: flat prior; estimate = posterior mean (the centroid of the valid colours), samples
  exact;
- ``mean-chroma``: independent Gaussians on each pixel's chroma fit to the training images; MAP
  (or posterior mean, ``InferenceConfig.estimate``) and MALA samples (chains start at the MAP
  estimate, or each at its own climb from a random colouring: ``chain_start``);
- ``model``: the generative model's density as the prior; estimate and samples likewise;
- ``regressor``: a CNN trained to predict chroma from gray (discriminative; no samples);
- ``conditional``: a flow of chroma given gray trained on the same images, ``p(colour | gray)``
  learned directly; exact samples, estimate = their mean (:mod:`tasks.colorize.chroma_flow`);
- ``conditional-pixelcnn``: the same posterior as an autoregressive model of coarse, quantized
  chroma (:mod:`tasks.colorize.chroma_pixelcnn`); exact samples, estimate = their mean;
- ``stacked``: one of those two posteriors' estimate averaged with the regressor's, the weight
  chosen on validation images (:mod:`tasks.colorize.stacking`); no samples.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
from torch import Tensor

from genmodels.contract import GenerativeModel
from genmodels.data.splits import subsample
from genmodels.errors import DataError
from tasks.colorize.amortized import (
    ChromaPosterior,
    calibrate_temperature,
    posterior_mean,
    sample_conditional,
)
from tasks.colorize.chroma_flow import (
    CONDITIONAL_ARTIFACT,
    ChromaFlowModule,
    check_image_size,
    conditional_bytes,
    fit_conditional,
    load_conditional,
)
from tasks.colorize.chroma_pixelcnn import (
    PIXELCNN_ARTIFACT,
    ChromaPixelCNNModule,
    check_pixelcnn_size,
    fit_chroma_pixelcnn,
    pixelcnn_bytes,
)
from tasks.colorize.color import compose, luma, polygon_centroid
from tasks.colorize.comparison import (
    BASELINE_ARMS,
    describe_paired,
    paired_comparison,
    set_level_comparison,
)
from tasks.colorize.figures import colorization_grid
from tasks.colorize.inference import (
    InferenceSpec,
    PosteriorSamples,
    climb,
    map_colorize,
    sample_colorize,
    sample_uniform,
)
from tasks.colorize.posterior import uniform_truth_bpd
from tasks.colorize.priors import REQUIREMENT, MeanChromaPrior, ModelPrior, Prior
from tasks.colorize.regressor import ChromaRegressor, regress_colorize, train_regressor
from tasks.colorize.spec import ColorizeSpec
from tasks.colorize.stacking import (
    STACKED_ARTIFACT,
    StackedColorizer,
    stacked,
    stacked_bytes,
    weight_on_validation,
)
from tasks.colorize.table import ArmOutput, arm_rows, summarize, wide_table
from tasks.inputs import TaskInputs
from tasks.result import TaskResult


@dataclass(frozen=True)
class ColorizeResult:
    gray: Tensor
    truth: Tensor
    outputs: dict[str, ArmOutput]
    per_image: pd.DataFrame  # one row per (arm, image)
    summary: pd.DataFrame  # one row per (arm, metric): mean and 95% CI over images
    conditional: ChromaFlowModule | None = None  # the conditional arm's flow, if it ran
    calibration: pd.DataFrame | None = None  # its temperature grid, where it was calibrated
    # the conditional-pixelcnn arm's temperature grid, where it ran and was calibrated
    pixelcnn_calibration: pd.DataFrame | None = None
    pixelcnn: ChromaPixelCNNModule | None = None  # that arm's model, if it ran
    # the stacked arm's weight grid on validation (weight, psnr, chosen), and what it stacked
    stacking: pd.DataFrame | None = None
    stacked: StackedColorizer | None = None


def _check_colour(name: str, images: Tensor) -> None:
    if images.ndim != 4 or images.shape[1] != 3 or len(images) == 0:
        raise ValueError(f"{name}: need colour images (N, 3, H, W), got {tuple(images.shape)}")


def _posterior_arm(
    prior: Prior, gray: Tensor, config: InferenceSpec, generator: torch.Generator
) -> tuple[Tensor, PosteriorSamples | None, Tensor | None]:
    """The arm's estimate, its posterior samples, and the MAP when the estimate is not it."""
    if config.samples < 2:
        return map_colorize(prior, gray, config, generator).rgb, None, None
    if config.chain_start == "dispersed":
        climbs = climb(prior, gray, config.samples, config, generator)
        map_rgb = climbs.best().rgb
        samples = sample_colorize(prior, gray, config, generator, start=climbs.rgb)
    else:
        map_rgb = map_colorize(prior, gray, config, generator).rgb
        samples = sample_colorize(prior, gray, config, generator, start=map_rgb)
    if config.estimate == "posterior-mean":
        return samples.rgb.mean(0), samples, map_rgb
    return map_rgb, samples, None


def _amortized_arm(
    module: ChromaPosterior, gray: Tensor, k: int, generator: torch.Generator
) -> tuple[Tensor, PosteriorSamples | None]:
    """The posterior mean of ``mean_samples`` terms at the posterior's estimate temperature
    (:func:`~tasks.colorize.amortized.posterior_mean`), and ``k`` draws at its temperature
    reported as the arm's samples (exact: every one is accepted). Where the terms are draws
    at the same temperature, the first ``k`` of the averaged draws are the samples."""
    mean_samples = module.config.mean_samples
    if module.terms_are_draws and module.estimate_temperature == module.temperature:
        draws = sample_conditional(module, gray, max(k, mean_samples), generator)
        samples = PosteriorSamples(draws[:k], torch.ones(k, len(draws[0]))) if k >= 2 else None
        return draws.mean(0), samples
    estimate = posterior_mean(module, gray, mean_samples, generator)
    if k < 2:
        return estimate, None
    draws = sample_conditional(module, gray, k, generator)
    return estimate, PosteriorSamples(draws, torch.ones(k, len(draws[0])))


def run_colorize(
    model: GenerativeModel | None,
    train_rgb: Tensor,
    val_rgb: Tensor,
    test_rgb: Tensor,
    config: ColorizeSpec,
    seed: int,
    log: Callable[[str], None] = print,
    conditional: ChromaFlowModule | None = None,
) -> ColorizeResult:
    """Colorize the gray versions of ``test_rgb`` with every arm and measure against the truth.

    ``model`` is the trained generative prior (needed by the ``model`` arm; it also scores every
    arm's output, ``prior_bpd``). Only ``train_rgb`` fits the mean-chroma prior, the regressor and
    the conditional flow (``val_rgb`` picks their epochs), unless ``conditional`` is a flow
    trained elsewhere (:func:`~tasks.colorize.chroma_flow.load_conditional`); ``test_rgb`` is
    only seen as gray, then measured.
    """
    for name, images in (("train", train_rgb), ("val", val_rgb), ("test", test_rgb)):
        _check_colour(name, images)
    if "model" in config.arms:
        if model is None:
            raise ValueError("arm 'model' needs a trained generative model as the prior")
        REQUIREMENT.check(type(model))
    if "conditional" in config.arms:
        check_image_size(config.conditional, (test_rgb.shape[2], test_rgb.shape[3]))
    if "conditional-pixelcnn" in config.arms:
        check_pixelcnn_size(config.pixelcnn, (test_rgb.shape[2], test_rgb.shape[3]))
    gray = luma(test_rgb)
    outputs: dict[str, ArmOutput] = {}
    flow: ChromaFlowModule | None = None
    calibration: pd.DataFrame | None = None
    pixelcnn_calibration: pd.DataFrame | None = None
    pixelcnn: ChromaPixelCNNModule | None = None
    stacking: pd.DataFrame | None = None
    stack: StackedColorizer | None = None
    # the regressor arm's network; a residual flow trained here takes it as its forecast (and
    # trains it, if the regressor arm has not run yet), so it is trained once per run
    regressor: ChromaRegressor | None = None
    shared_width = config.conditional.residual is not False and (
        config.conditional.mean_width == config.regressor.width
    )
    for arm in config.arms:
        generator = torch.Generator().manual_seed(seed)
        t0 = time.perf_counter()
        samples: PosteriorSamples | None = None
        map_rgb: Tensor | None = None
        truth_bpd: Tensor | None = None
        if arm == "gray":
            estimate = gray.expand(-1, 3, -1, -1).clone()  # R = G = B: luma is the input
        elif arm == "uniform":
            estimate = compose(gray, polygon_centroid(gray))
            truth_bpd = uniform_truth_bpd(gray)
            if config.samples >= 2:
                samples = sample_uniform(gray, config.samples, generator)
        elif arm == "mean-chroma":
            prior = MeanChromaPrior.fit(train_rgb)
            estimate, samples, map_rgb = _posterior_arm(prior, gray, config, generator)
        elif arm == "model":
            assert model is not None
            estimate, samples, map_rgb = _posterior_arm(ModelPrior(model), gray, config, generator)
        elif arm == "conditional":
            flow = conditional
            if flow is None:  # train it (both forms, if it is to choose), calibrate, keep one
                if shared_width and regressor is None:
                    regressor = train_regressor(train_rgb, val_rgb, config.regressor, seed).net
                mean = regressor if shared_width else config.regressor
                flow, calibration = fit_conditional(
                    train_rgb, val_rgb, config.conditional, seed, mean=mean
                )
                form = "residual" if flow.config.residual else "plain"
                log(f"conditional flow: {form} (residual: {config.conditional.residual})")
            elif config.conditional.temperature == "calibrate":  # on validation images only
                calibration = calibrate_temperature(
                    flow, val_rgb, torch.Generator().manual_seed(seed)
                )
            if config.conditional.temperature == "calibrate":
                log(
                    f"conditional temperatures, calibrated on validation: draws "
                    f"{flow.temperature:g}, estimate {flow.estimate_temperature:g}"
                )
            with torch.no_grad():
                truth_bpd = flow.bits_per_dim(test_rgb, dequantize=False)
            estimate, samples = _amortized_arm(flow, gray, config.samples, generator)
        elif arm == "conditional-pixelcnn":
            pixelcnn, pixelcnn_calibration = fit_chroma_pixelcnn(
                train_rgb, val_rgb, config.pixelcnn, seed
            )
            log(
                f"conditional-pixelcnn temperatures: draws {pixelcnn.temperature:g}, estimate "
                f"{pixelcnn.estimate_temperature:g}"
            )
            estimate, samples = _amortized_arm(pixelcnn, gray, config.samples, generator)
        elif arm == "stacked":
            posterior = flow if config.stack.arm == "conditional" else pixelcnn
            assert posterior is not None  # the spec lists its arm first
            if regressor is None:
                regressor = train_regressor(train_rgb, val_rgb, config.regressor, seed).net
            weight, stacking = weight_on_validation(
                posterior, regressor, val_rgb, config.stack, generator
            )
            log(f"stacked: {config.stack.arm} weight {weight:g}, regressor {1 - weight:g}")
            forecast = (
                outputs["regressor"].estimate
                if "regressor" in outputs
                else regress_colorize(regressor, gray)
            )
            estimate = stacked(outputs[config.stack.arm].estimate, forecast, weight)
            stack = StackedColorizer(posterior, regressor, weight)
        else:
            if regressor is None:
                regressor = train_regressor(train_rgb, val_rgb, config.regressor, seed).net
            estimate = regress_colorize(regressor, gray)
        seconds = time.perf_counter() - t0
        outputs[arm] = ArmOutput(arm, estimate.detach(), samples, seconds, map_rgb, truth_bpd)
        log(f"arm {arm}: {outputs[arm].seconds:.1f} s")
    per_image = pd.concat([arm_rows(o, gray, test_rgb, model, seed) for o in outputs.values()])
    truth = ArmOutput("truth", test_rgb, None, 0.0)
    per_image = pd.concat(
        [per_image, arm_rows(truth, gray, test_rgb, model, seed)], ignore_index=True
    )
    return ColorizeResult(
        gray,
        test_rgb,
        outputs,
        per_image,
        summarize(per_image),
        flow,
        calibration,
        pixelcnn_calibration,
        pixelcnn,
        stacking,
        stack,
    )


def _conditional_flow(spec: ColorizeSpec, shape: tuple[int, ...]) -> ChromaFlowModule | None:
    """Check the conditional arm fits the images; load its flow if the spec names weights.
    None: the arm trains its own."""
    if "conditional" not in spec.arms:
        return None
    size = (shape[1], shape[2])
    try:
        check_image_size(spec.conditional, size)
        if spec.conditional.weights is None:
            return None
        return load_conditional(Path(spec.conditional.weights).expanduser(), spec.conditional, size)
    except ValueError as err:
        raise DataError(str(err)) from err


def _check_pixelcnn(spec: ColorizeSpec, shape: tuple[int, ...]) -> None:
    """Refuse images the conditional-pixelcnn arm cannot tile, before anything trains."""
    if "conditional-pixelcnn" in spec.arms:
        try:
            check_pixelcnn_size(spec.pixelcnn, (shape[1], shape[2]))
        except ValueError as err:
            raise DataError(str(err)) from err


def run(inputs: TaskInputs[ColorizeSpec]) -> TaskResult:
    """The task's entry point: colour images -> generative prior -> every arm on gray test images.

    Records ``<metric>.<arm>`` (means over the test images: psnr, ssim, colourfulness,
    consistency, prior_bpd, best_of_k_psnr, diversity, energy_score, coverage_50, coverage_90,
    truth_bpd, ...), the per-image rows, the summary and the paired differences per image and
    over the set (``paired.<metric>.<arm>-vs-<baseline>``) as tables, and a grid of gray inputs,
    truths, estimates, samples and uncertainty.
    """
    spec, seed, log = inputs.spec, inputs.seed, inputs.log
    train, val = inputs.data["train"], inputs.data["val"]
    if train.image_shape[0] != 3:
        raise DataError(
            f"task 'colorize' needs colour (3-channel) images; data '{inputs.data_name}' has "
            f"{train.image_shape[0]} channel(s)"
        )
    conditional = _conditional_flow(spec, train.image_shape)
    _check_pixelcnn(spec, train.image_shape)
    result = TaskResult()
    if conditional is not None:
        result.tags["conditional_weights_from"] = str(spec.conditional.weights)
    test = subsample(inputs.data["test"], spec.test_images, seed)
    result.params.update(n_train=len(train), n_val=len(val), n_test=len(test))
    log(f"data: {inputs.data_name}: train {len(train)}, val {len(val)}, test {len(test)}")
    model: GenerativeModel | None = None
    if "model" in spec.arms:
        model = inputs.models.build(train.image_shape, train.levels, seed)
        t0 = time.perf_counter()
        fit = inputs.models.fit(model, train, val)
        log(f"trained prior {model.name} in {time.perf_counter() - t0:.1f} s ({fit.epochs} ep)")
    colorized = run_colorize(
        model, train.images, val.images, test.images, spec, seed, log, conditional
    )
    for _, r in colorized.summary.iterrows():
        result.metrics[f"{r['metric']}.{r['arm']}"] = float(r["mean"])
    table = wide_table(colorized.summary)
    result.tables.update(per_image=colorized.per_image, summary=colorized.summary, results=table)
    learned = [a for a in spec.arms if a not in BASELINE_ARMS]
    parts = [
        frame
        for frame in (
            paired_comparison(colorized.per_image, learned),
            set_level_comparison(colorized.per_image, learned, seed=seed),
        )
        if not frame.empty
    ]
    if parts:
        paired = pd.concat(parts, ignore_index=True)
        result.tables["paired"] = paired
        for line in describe_paired(paired):
            log(line)
        for _, r in paired.iterrows():
            name = f"paired.{r['metric']}.{r['arm']}-vs-{r['baseline']}"
            result.metrics[name] = float(r["mean"])
    if spec.grid_images:
        result.figure("colorization", colorization_grid(colorized, spec.grid_images))
    if colorized.conditional is not None:  # for `priorworks colorize --model runs:/<run>`
        result.files[CONDITIONAL_ARTIFACT] = conditional_bytes(colorized.conditional)
        form = "residual" if colorized.conditional.config.residual else "plain"
        result.params["conditional_form"] = form
        result.metrics["conditional_temperature"] = colorized.conditional.temperature
        result.metrics["conditional_estimate_temperature"] = (
            colorized.conditional.estimate_temperature
        )
    if colorized.calibration is not None:
        result.tables["temperature_calibration"] = colorized.calibration
    if colorized.pixelcnn is not None:  # `priorworks colorize --model runs:/<run>/<this path>`
        result.files[PIXELCNN_ARTIFACT] = pixelcnn_bytes(colorized.pixelcnn)
        result.metrics["pixelcnn_temperature"] = colorized.pixelcnn.temperature
        result.metrics["pixelcnn_estimate_temperature"] = colorized.pixelcnn.estimate_temperature
    if colorized.pixelcnn_calibration is not None:
        result.tables["pixelcnn_temperature_calibration"] = colorized.pixelcnn_calibration
    if colorized.stacking is not None:
        result.tables["stacking"] = colorized.stacking
    if colorized.stacked is not None:  # `priorworks colorize --model runs:/<run>/<this path>`
        result.files[STACKED_ARTIFACT] = stacked_bytes(colorized.stacked)
        result.metrics["stacked_weight"] = colorized.stacked.weight
    result.table = table
    return result

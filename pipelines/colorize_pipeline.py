"""The colorization pipeline: colour data -> generative prior -> every arm on gray test images.

One parent run with the spec as params; a nested run trains the prior; metrics ``<metric>.<arm>``
(means over the test images: psnr, ssim, colourfulness, consistency, prior_bpd, best_of_k_psnr,
diversity, ...), the per-image rows and the summary as tables, and image grids (gray input,
truth, each arm's estimate, samples and per-pixel uncertainty of the model and conditional arms).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

import mlflow
from genmodels.contract import GenerativeModel
from genmodels.data.splits import subsample
from genmodels.errors import DataError
from genmodels.registry import build_model, get_model_class
from genmodels.training import seed_all
from pipelines.artifacts import log_figure, log_table
from pipelines.datasets import load_splits
from pipelines.fingerprint import data_fingerprint
from pipelines.plots import column_grid
from pipelines.spec import ColorizeTaskSpec, PipelineSpec
from pipelines.stages import PipelineResult, pipeline_run, train_stage
from tasks.colorize import (
    BASELINE_ARMS,
    REQUIREMENT,
    ColorizeConfig,
    ColorizeResult,
    ConditionalConfig,
    RegressorConfig,
    paired_comparison,
    run_colorize,
    wide_table,
)
from tasks.colorize.conditional import ChromaFlowModule, check_image_size, load_conditional


def _task(spec: PipelineSpec) -> ColorizeTaskSpec:
    if not isinstance(spec.task, ColorizeTaskSpec):
        raise TypeError(f"the colorize pipeline cannot run task '{spec.task.name}'")
    return spec.task


def _config(task: ColorizeTaskSpec, seed: int) -> ColorizeConfig:
    inference = task.inference_config()
    regressor = RegressorConfig(**task.regressor.model_dump())
    conditional = ConditionalConfig(**task.conditional.model_dump(exclude={"weights"}))
    return ColorizeConfig(tuple(task.arms), inference, regressor, seed, conditional)


def _log_grids(result: ColorizeResult, rows: int) -> None:
    if rows == 0:
        return
    columns = {"gray": result.gray[:rows].numpy(), "truth": result.truth[:rows].numpy()}
    for arm, out in result.outputs.items():
        columns[arm] = out.estimate[:rows].numpy()
    heat = []
    for arm in ("model", "conditional"):
        sampled = result.outputs.get(arm)
        if sampled is None or sampled.samples is None:
            continue
        for k in range(min(3, sampled.samples.rgb.shape[0])):
            columns[f"{arm} sample {k + 1}"] = sampled.samples.rgb[k, :rows].numpy()
        columns[f"{arm} uncertainty"] = sampled.samples.uncertainty[:rows].numpy()
        heat.append(f"{arm} uncertainty")
    log_figure(column_grid(columns, "colorization", heat=tuple(heat)), "colorization")


def _conditional_flow(
    task: ColorizeTaskSpec, config: ColorizeConfig, shape: tuple[int, ...]
) -> ChromaFlowModule | None:
    """Check the conditional arm fits the images; load its flow if the spec names weights (the
    run is tagged ``conditional_weights_from``). None: the arm trains its own."""
    if "conditional" not in task.arms:
        return None
    size = (shape[1], shape[2])
    try:
        check_image_size(config.conditional, size)
        if task.conditional.weights is None:
            return None
        flow = load_conditional(
            Path(task.conditional.weights).expanduser(), config.conditional, size
        )
    except ValueError as err:
        raise DataError(str(err)) from err
    mlflow.set_tag("conditional_weights_from", task.conditional.weights)
    return flow


def _log_paired(result: ColorizeResult, arms: Sequence[str], log: Callable[[str], None]) -> None:
    """Every learned-prior arm against every baseline arm of the run, per image: a table, one
    metric per difference (``paired.<metric>.<arm>-vs-<baseline>``) and the log."""
    learned = [a for a in arms if a not in BASELINE_ARMS]
    paired = paired_comparison(result.per_image, learned)
    if paired.empty:
        return
    log_table(paired, "paired")
    log("paired differences, arm - baseline over the same test images (95% t-interval):")
    for _, r in paired.iterrows():
        mlflow.log_metric(f"paired.{r['metric']}.{r['arm']}-vs-{r['baseline']}", float(r["mean"]))
        log(
            f"  {r['arm']} - {r['baseline']} {r['metric']} ({r['better']} is better): "
            f"{r['mean']:+.3f} [{r['ci_low']:+.3f}, {r['ci_high']:+.3f}], "
            f"better on {r['wins']:.0%} of {r['n']}"
        )


def run_colorize_pipeline(spec: PipelineSpec, log: Callable[[str], None] = print) -> PipelineResult:
    """Run a colorize spec end to end; raises on failure (the run is marked FAILED)."""
    task = _task(spec)
    model_cls = get_model_class(spec.model.name)
    if "model" in task.arms:
        REQUIREMENT.check(model_cls)  # refuse before any data or weights load
    config = _config(task, spec.seed)
    with pipeline_run(spec, "colorize", model_cls) as run:
        uri, tags = run.uri, run.tags
        splits = load_splits(spec.data)
        train, val = splits["train"], splits["val"]
        if train.image_shape[0] != 3:
            raise DataError(
                f"task 'colorize' needs colour (3-channel) images; data '{spec.data.name}' has "
                f"{train.image_shape[0]} channel(s)"
            )
        conditional = _conditional_flow(task, config, train.image_shape)
        test = subsample(splits["test"], task.test_images, spec.seed)
        mlflow.set_tag("data_hash", data_fingerprint(splits))
        mlflow.log_params({"n_train": len(train), "n_val": len(val), "n_test": len(test)})
        log(f"data: {spec.data.name}: train {len(train)}, val {len(val)}, test {len(test)}")
        model: GenerativeModel | None = None
        if "model" in task.arms:
            seed_all(spec.seed)
            model = build_model(model_cls, train.image_shape, train.levels, spec.model.params)
            t0 = time.perf_counter()
            fit = train_stage(model, train, val, spec, uri, tags, log=log)
            log(f"trained prior {model.name} in {time.perf_counter() - t0:.1f} s ({fit.epochs} ep)")
        result = run_colorize(
            model, train.images, val.images, test.images, config, log, conditional
        )
        for _, r in result.summary.iterrows():
            mlflow.log_metric(f"{r['metric']}.{r['arm']}", float(r["mean"]))
        log_table(result.per_image, "per_image")
        log_table(result.summary, "summary")
        table = wide_table(result.summary)
        log_table(table, "results")
        _log_paired(result, task.arms, log)
        _log_grids(result, task.grid_images)
        return run.finish(table, None)

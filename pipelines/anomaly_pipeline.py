"""The anomaly-detection pipeline: data -> train -> score -> calibrate -> evaluate, in MLflow.

One parent run per execution, nested runs for training, the task and each baseline. The model's
likelihood kind is a tag of every run, so exact and bound scores are never compared by accident.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

import mlflow
from genmodels.contract import GenerativeModel
from genmodels.data.inputs import conform
from genmodels.errors import DataError
from genmodels.registry import build_model, get_model_class
from genmodels.training import seed_all
from pipelines.artifacts import log_figure, log_table
from pipelines.datasets import load_splits
from pipelines.fingerprint import data_fingerprint
from pipelines.model_export import log_anomaly_model
from pipelines.model_registry import promote_if_better
from pipelines.plots import image_grid, roc_figure, score_histogram
from pipelines.spec import AnomalyTaskSpec, PipelineSpec
from pipelines.stages import PipelineResult, pipeline_run, train_stage
from tasks.anomaly import (
    REQUIREMENT,
    ConformalThreshold,
    DetectionResult,
    Evidence,
    LayoutDensity,
    OneClassSplit,
    Score,
    background_data,
    code_length_bits,
    evaluate_detector,
    fit_baseline,
    fit_compressor_baseline,
    gains_over_best_baseline,
    gather_evidence,
    make_score,
    one_class_split,
    reference_calibration_split,
)

METRIC_COLUMNS = (
    "val_auroc",
    "auroc",
    "auroc_ci_low",
    "auroc_ci_high",
    "auprc",
    "fpr_at_95tpr",
    "fpr_at_threshold",
    "tpr_at_threshold",
)


def _results_table(results: list[tuple[str, DetectionResult]]) -> pd.DataFrame:
    rows = [
        {"method": r.method, "kind": kind, **{k: r.metrics.get(k, np.nan) for k in METRIC_COLUMNS}}
        for kind, r in results
    ]
    return pd.DataFrame(rows)


def _with_gains(
    table: pd.DataFrame,
    results: list[tuple[str, DetectionResult]],
    data: OneClassSplit,
    spec: PipelineSpec,
    log: Callable[[str], None],
) -> pd.DataFrame:
    """The results table with each model score's AUROC gain over the run's best baseline (paired
    bootstrap), logged as ``<method>.auroc_gain``; unchanged when the run has no baseline."""
    gains = gains_over_best_baseline(
        [r for kind, r in results if kind != "baseline"],
        [r for kind, r in results if kind == "baseline"],
        data.test_is_anomaly,
        _task(spec).bootstrap,
        spec.seed,
    )
    if gains.empty:
        return table
    mlflow.log_metrics(dict(zip(gains["method"] + ".auroc_gain", gains["auroc_gain"], strict=True)))
    best = gains.sort_values("auroc_gain").iloc[-1]
    log(
        f"best model score {best['method']} vs best baseline {best['best_baseline']}: "
        f"AUROC {best['auroc_gain']:+.3f} [{best['auroc_gain_ci_low']:+.3f}, "
        f"{best['auroc_gain_ci_high']:+.3f}] (paired bootstrap)"
    )
    return table.merge(gains, on="method", how="left")


def _task(spec: PipelineSpec) -> AnomalyTaskSpec:
    if not isinstance(spec.task, AnomalyTaskSpec):
        raise TypeError(f"the anomaly pipeline cannot run task '{spec.task.name}'")
    return spec.task


@dataclass(frozen=True)
class _Evidence:
    """The evidence of the model's scores on each part of the split, computed once."""

    reference: Evidence
    calibration: Evidence
    test: Evidence
    val_anomalous: Evidence | None  # None when the validation split holds no anomalies


def _evaluate(
    method: str,
    cal_scores: np.ndarray,
    test_scores: np.ndarray,
    data: OneClassSplit,
    spec: PipelineSpec,
    val_anomalous_scores: np.ndarray | None = None,
) -> DetectionResult:
    """Calibrate, decide and measure one detector on the shared split, and log its metrics."""
    labels = data.test.labels.numpy() if data.test.labels is not None else None
    result = evaluate_detector(
        method,
        cal_scores,
        test_scores,
        data.test_is_anomaly,
        _task(spec).target_fpr,
        data.test.ids,
        labels,
        n_boot=_task(spec).bootstrap,
        seed=spec.seed,
        val_anomalous_scores=val_anomalous_scores,
    )
    mlflow.log_metrics(result.metrics)
    return result


def _reference_and_calibration(n_val: int, spec: PipelineSpec) -> tuple[np.ndarray, np.ndarray]:
    """Split the normal validation images when a score has state to fit; else all calibrate."""
    task = _task(spec)
    if not any(make_score(name).needs_reference for name in task.all_scores):
        everything = np.arange(n_val)
        return everything, everything  # reference unused by stateless scores
    reference, calibration = reference_calibration_split(n_val, task.reference_fraction, spec.seed)
    need = ConformalThreshold.min_calibration(task.target_fpr)
    if len(calibration) < need:
        raise DataError(
            f"{n_val} normal validation images leave {len(calibration)} for calibration after "
            f"task.reference_fraction={task.reference_fraction}; a target FPR of "
            f"{task.target_fpr} needs at least {need}: lower the fraction or raise the FPR"
        )
    return reference, calibration


def _gather(
    model: GenerativeModel,
    background: GenerativeModel | None,
    layout: LayoutDensity | None,
    data: OneClassSplit,
    reference: np.ndarray,
    calibration: np.ndarray,
    spec: PipelineSpec,
) -> _Evidence:
    task = _task(spec)

    def gather(images: torch.Tensor) -> Evidence:
        return gather_evidence(model, images, background, task.batch_size, task.compressor, layout)

    val = gather(data.val.images)
    anomalous = None if data.val_anomalous is None else gather(data.val_anomalous.images)
    return _Evidence(
        val.subset(reference), val.subset(calibration), gather(data.test.images), anomalous
    )


def _log_score_plots(
    method: str, test_scores: np.ndarray, threshold: float, data: OneClassSplit
) -> None:
    log_figure(score_histogram(data.test_is_anomaly, test_scores, threshold, method), "histogram")
    order = np.argsort(test_scores)
    images = data.test.images.numpy()
    most = image_grid(images[order[-32:][::-1]], title=f"most anomalous test images ({method})")
    log_figure(most, "most_anomalous")
    least = image_grid(images[order[:32]], title=f"least anomalous test images ({method})")
    log_figure(least, "least_anomalous")


def _score_stage(
    model: GenerativeModel,
    score_name: str,
    evidence: _Evidence,
    data: OneClassSplit,
    calibration: np.ndarray,
    spec: PipelineSpec,
    tags: dict[str, str],
) -> tuple[Score, DetectionResult]:
    score = make_score(score_name).fit(evidence.reference)
    method = f"{model.name}:{score_name}"
    with mlflow.start_run(run_name=f"task:anomaly:{method}", nested=True):
        mlflow.set_tags({**tags, "stage": "task", "score": score_name})
        test_scores = score(evidence.test)
        anomalous = None if evidence.val_anomalous is None else score(evidence.val_anomalous)
        result = _evaluate(method, score(evidence.calibration), test_scores, data, spec, anomalous)
        per_sample = result.per_sample
        log_table(per_sample, "test_scores")
        _log_score_plots(method, test_scores, result.threshold.threshold, data)
    return score, result


def _on_val_anomalies(
    scores: Callable[[torch.Tensor], np.ndarray], data: OneClassSplit
) -> np.ndarray | None:
    return None if data.val_anomalous is None else scores(data.val_anomalous.images)


def _select_primary(
    scored: list[tuple[Score, DetectionResult]], selection: str, log: Callable[[str], None]
) -> tuple[Score, DetectionResult]:
    """The spec's primary score, or when selecting on validation the model score with the
    highest validation AUROC (the first of equals, in the spec's order)."""
    if selection != "validation":
        return scored[0]
    best = max(scored, key=lambda pair: pair[1].metrics["val_auroc"])
    listing = ", ".join(f"{r.method} {r.metrics['val_auroc']:.4f}" for _, r in scored)
    log(f"selected {best[1].method} by validation AUROC ({listing}); the test split was not used")
    mlflow.set_tag("selected_score", best[0].name)
    return best


def _baseline_stage(
    name: str, data: OneClassSplit, calibration: np.ndarray, spec: PipelineSpec,
    tags: dict[str, str],
) -> DetectionResult:  # fmt: skip
    with mlflow.start_run(run_name=f"baseline:{name}", nested=True):
        mlflow.set_tags({**tags, "stage": "baseline", "model": name, "likelihood": "baseline"})
        scorer = fit_baseline(name, data.train.images.flatten(1).numpy(), seed=spec.seed)

        def scores(images: torch.Tensor) -> np.ndarray:
            return scorer(images.flatten(1).numpy())

        return _evaluate(
            name, scores(data.val.images[calibration]), scores(data.test.images), data, spec,
            _on_val_anomalies(scores, data),
        )  # fmt: skip


def _compressor_stage(
    name: str, data: OneClassSplit, calibration: np.ndarray, spec: PipelineSpec,
    tags: dict[str, str],
) -> DetectionResult:  # fmt: skip
    """A detector with no model at all: the compressor's code length of each image (reported as
    ``<compressor>:<name>``, e.g. ``png:code_typicality``)."""
    task = _task(spec)
    method = f"{task.compressor}:{name}"
    with mlflow.start_run(run_name=f"baseline:{method}", nested=True):
        mlflow.set_tags({**tags, "stage": "baseline", "model": method, "likelihood": "baseline"})
        levels = data.train.levels

        def bits(images: torch.Tensor) -> np.ndarray:
            return code_length_bits(images, levels, task.compressor)

        scorer = fit_compressor_baseline(name, bits(data.train.images))

        def scores(images: torch.Tensor) -> np.ndarray:
            return scorer(bits(images))

        return _evaluate(
            method, scores(data.val.images[calibration]), scores(data.test.images), data, spec,
            _on_val_anomalies(scores, data),
        )  # fmt: skip


def _background_stage(
    model_cls: type[GenerativeModel],
    data: OneClassSplit,
    spec: PipelineSpec,
    uri: str,
    tags: dict[str, str],
    log: Callable[[str], None],
) -> GenerativeModel | None:
    bg = _task(spec).background
    if bg is None:
        return None
    train_source, val_source, source = data.train, data.val, "normal images"
    if bg.data is not None:  # a general-domain data set, made to look like the normal images
        splits = load_splits(bg.data)
        shape, levels = data.train.image_shape, data.train.levels
        train_source = conform(splits["train"], shape, levels, grayscale=True)
        val_source = conform(splits["val"], shape, levels, grayscale=True)
        source = f"{bg.data.name} ({len(train_source)} images)"
    mlflow.log_param("background_source", source)
    train = background_data(train_source, bg.mutation_rate, spec.seed, bg.copies)
    val = background_data(val_source, bg.mutation_rate, spec.seed + 1)
    params = {**spec.model.params, **bg.params}
    seed_all(spec.seed)
    background = build_model(model_cls, data.train.image_shape, data.train.levels, params)
    t0 = time.perf_counter()
    fit = train_stage(
        background, train, val, spec, uri, tags, "background", bg.max_epochs, log,
        params if bg.params else None,
    )  # fmt: skip
    log(
        f"trained background {background.name} on {source}, mutation rate {bg.mutation_rate}"
        + (f", parameters {bg.params}" if bg.params else "")
        + f", in {time.perf_counter() - t0:.1f} s ({fit.epochs} epochs)"
    )
    return background


def _load_data(spec: PipelineSpec) -> tuple[OneClassSplit, str, str]:
    """The split, its fingerprint, and how this run picks its primary score (``validation`` or
    ``score``); refuses ``select_by: validation`` on data without validation anomalies."""
    splits = load_splits(spec.data)
    data = one_class_split(splits, _task(spec).normal_classes)
    selection = _task(spec).selection(data.val_anomalous is not None)
    if selection == "validation":
        data.require_val_anomalous(f"task.select_by=validation on '{spec.data.name}'")
    return data, data_fingerprint(splits), selection


def run_anomaly(spec: PipelineSpec, log: Callable[[str], None] = print) -> PipelineResult:
    """Run an anomaly-detection spec end to end; raises on failure (the run is marked FAILED)."""
    model_cls = get_model_class(spec.model.name)
    REQUIREMENT.check(model_cls)  # refuse before any data or weights load
    task = _task(spec)
    with pipeline_run(spec, "anomaly", model_cls) as run:
        uri, tags = run.uri, run.tags
        data, tags["data_hash"], selection = _load_data(spec)
        mlflow.set_tag("data_hash", tags["data_hash"])
        n_anomalous = int(data.test_is_anomaly.sum())
        mlflow.log_params(
            {
                "n_train_normal": len(data.train),
                "n_val_normal": len(data.val),
                "n_test": len(data.test),
                "n_test_anomalous": n_anomalous,
                "n_val_anomalous": 0 if data.val_anomalous is None else len(data.val_anomalous),
                "image_shape": "x".join(map(str, data.train.image_shape)),
                "levels": data.train.levels,
                "selected_by": selection,
            }
        )
        log(
            f"data: {spec.data.name}, normal classes {list(_task(spec).normal_classes)}: "
            f"{len(data.train)} train / {len(data.val)} val normal, {len(data.test)} test "
            f"({n_anomalous} anomalous)"
        )

        seed_all(spec.seed)
        model = build_model(model_cls, data.train.image_shape, data.train.levels, spec.model.params)
        t0 = time.perf_counter()
        fit = train_stage(model, data.train, data.val, spec, uri, tags, log=log)
        log(
            f"trained {model.name} in {time.perf_counter() - t0:.1f} s ({fit.epochs} epochs, "
            f"best {model.monitor} {fit.best_score:.4f})"
        )
        background = _background_stage(model_cls, data, spec, uri, tags, log)
        reference, calibration = _reference_and_calibration(len(data.val), spec)
        shared = reference is calibration or np.array_equal(reference, calibration)
        mlflow.log_params(
            {"n_reference": 0 if shared else len(reference), "n_calibration": len(calibration)}
        )
        layout = None
        if task.layout is not None:
            layout = LayoutDensity.fit(data.train.images, task.layout.image_size)
            mlflow.log_param("layout_size", "x".join(map(str, layout.size)))
        evidence = _gather(model, background, layout, data, reference, calibration, spec)
        scored = [
            _score_stage(model, name, evidence, data, calibration, spec, tags)
            for name in task.all_scores
        ]
        results = [(model.likelihood.value, result) for _, result in scored]
        results += [
            ("baseline", _baseline_stage(n, data, calibration, spec, tags)) for n in task.baselines
        ]
        results += [
            ("baseline", _compressor_stage(n, data, calibration, spec, tags))
            for n in task.compressor_baselines
        ]

        table = _results_table(results)
        table = _with_gains(table, results, data, spec, log)
        key_metrics = ("auroc", "auprc", "fpr_at_95tpr", "val_auroc")
        mlflow.log_metrics(
            {
                f"{r.method}.{k}": r.metrics[k]
                for _, r in results
                for k in key_metrics
                if k in r.metrics
            }
        )
        log_table(table, "results")
        curves = {r.method: r.per_sample["score"].to_numpy() for _, r in results}
        log_figure(roc_figure(data.test_is_anomaly, curves), "roc")
        model_uri = None
        primary_score, primary = _select_primary(scored, selection, log)
        if spec.output.log_model:
            model_uri = log_anomaly_model(
                model,
                primary.threshold,
                primary_score,
                task.batch_size,
                background,
                task.compressor,
                layout,
            )
            if spec.output.registered_model:
                metric = "val_auroc" if selection == "validation" else "auroc"
                decision = promote_if_better(
                    spec.output.registered_model, model_uri, primary.metrics[metric], metric
                )
                mlflow.set_tags(decision.tags())
                log(decision.message)
        return run.finish(table, model_uri)

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
from pytorch_lightning.loggers import MLFlowLogger

import mlflow
from genmodels.contract import GenerativeModel
from genmodels.data import ensure_splits, load_dataset
from genmodels.registry import get_model_class
from genmodels.training import FitResult, TrainConfig, fit_model, seed_all
from pipelines.artifacts import log_figure, log_table
from pipelines.fingerprint import data_fingerprint
from pipelines.model_export import log_anomaly_model
from pipelines.plots import image_grid, roc_figure, score_histogram
from pipelines.spec import PipelineSpec
from pipelines.tracking import git_commit, setup_experiment
from tasks.anomaly import (
    REQUIREMENT,
    DetectionResult,
    OneClassSplit,
    evaluate_detector,
    fit_baseline,
    one_class_split,
    score_images,
)

METRIC_COLUMNS = (
    "auroc",
    "auroc_ci_low",
    "auroc_ci_high",
    "auprc",
    "fpr_at_95tpr",
    "fpr_at_threshold",
    "tpr_at_threshold",
)


@dataclass(frozen=True)
class PipelineResult:
    run_id: str
    experiment_id: str
    tracking_uri: str
    table: pd.DataFrame
    model_uri: str | None


def _results_table(results: list[tuple[str, DetectionResult]]) -> pd.DataFrame:
    rows = [
        {"method": r.method, "kind": kind, **{k: r.metrics[k] for k in METRIC_COLUMNS}}
        for kind, r in results
    ]
    return pd.DataFrame(rows)


def _evaluate(
    method: str,
    val_scores: np.ndarray,
    test_scores: np.ndarray,
    data: OneClassSplit,
    spec: PipelineSpec,
) -> DetectionResult:
    """Calibrate, decide and measure one detector on the shared split, and log its metrics."""
    labels = data.test.labels.numpy() if data.test.labels is not None else None
    result = evaluate_detector(
        method,
        val_scores,
        test_scores,
        data.test_is_anomaly,
        spec.task.target_fpr,
        data.test.ids,
        labels,
        n_boot=spec.task.bootstrap,
        seed=spec.seed,
    )
    mlflow.log_metrics(result.metrics)
    return result


def _train_stage(
    model: GenerativeModel, data: OneClassSplit, spec: PipelineSpec, uri: str, tags: dict[str, str]
) -> FitResult:
    with mlflow.start_run(run_name=f"train:{model.name}", nested=True) as run:
        mlflow.set_tags({**tags, "stage": "train"})
        logger = MLFlowLogger(tracking_uri=uri, run_id=run.info.run_id)
        t0 = time.perf_counter()
        config = TrainConfig(**spec.train.model_dump())
        fit = fit_model(model, data.train, data.val, config, seed=spec.seed, loggers=[logger])
        mlflow.log_metrics({"train_seconds": time.perf_counter() - t0, "epochs_run": fit.epochs})
        if fit.best_score is not None:
            mlflow.log_metric(f"best_{model.monitor or 'score'}", fit.best_score)
        if spec.output.sample_grid:
            gen = torch.Generator().manual_seed(spec.seed)
            samples = model.sample(spec.output.sample_grid, generator=gen).cpu().numpy()
            log_figure(image_grid(samples, title=f"samples from {model.name}"), "samples")
    return fit


def _task_stage(
    model: GenerativeModel, data: OneClassSplit, spec: PipelineSpec, tags: dict[str, str]
) -> DetectionResult:
    task = spec.task
    method = f"{model.name}:{task.score}"
    with mlflow.start_run(run_name=f"task:anomaly:{method}", nested=True):
        mlflow.set_tags({**tags, "stage": "task", "score": task.score})
        val_scores = score_images(model, data.val.images, task.score, task.batch_size)
        test_scores = score_images(model, data.test.images, task.score, task.batch_size)
        result = _evaluate(method, val_scores, test_scores, data, spec)
        log_table(result.per_sample, "test_scores")
        threshold = result.threshold.threshold
        histogram = score_histogram(data.test_is_anomaly, test_scores, threshold, task.score)
        log_figure(histogram, "score_histogram")
        order = np.argsort(test_scores)
        images = data.test.images.numpy()
        most = image_grid(images[order[-32:][::-1]], title="most anomalous test images")
        log_figure(most, "most_anomalous")
        log_figure(
            image_grid(images[order[:32]], title="least anomalous test images"), "least_anomalous"
        )
    return result


def _baseline_stage(
    name: str, data: OneClassSplit, spec: PipelineSpec, tags: dict[str, str]
) -> DetectionResult:
    with mlflow.start_run(run_name=f"baseline:{name}", nested=True):
        mlflow.set_tags({**tags, "stage": "baseline", "model": name, "likelihood": "baseline"})
        scorer = fit_baseline(name, data.train.images.flatten(1).numpy(), seed=spec.seed)
        val_scores = scorer(data.val.images.flatten(1).numpy())
        return _evaluate(name, val_scores, scorer(data.test.images.flatten(1).numpy()), data, spec)


def _load_data(spec: PipelineSpec) -> tuple[OneClassSplit, str]:
    splits = ensure_splits(
        load_dataset(spec.data.name, spec.data.path),
        spec.data.val_fraction,
        spec.data.test_fraction,
        spec.data.split_seed,
    )
    return one_class_split(splits, spec.task.normal_classes), data_fingerprint(splits)


def run_anomaly(spec: PipelineSpec, log: Callable[[str], None] = print) -> PipelineResult:
    """Run an anomaly-detection spec end to end; raises on failure (the run is marked FAILED)."""
    model_cls = get_model_class(spec.model.name)
    REQUIREMENT.check(model_cls)  # refuse before any data or weights load
    uri, experiment_id = setup_experiment(spec.output.experiment)
    tags = {
        "task": "anomaly",
        "model": model_cls.name,
        "likelihood": model_cls.likelihood.value,
        "dataset": spec.data.name,
        "config_hash": spec.config_hash(),
        "git_commit": git_commit(),
    }
    with mlflow.start_run(experiment_id=experiment_id, run_name=spec.name) as parent:
        started = time.perf_counter()
        mlflow.set_tags(tags)
        mlflow.log_params(spec.flat_params())
        data, tags["data_hash"] = _load_data(spec)
        mlflow.set_tag("data_hash", tags["data_hash"])
        n_anomalous = int(data.test_is_anomaly.sum())
        mlflow.log_params(
            {
                "n_train_normal": len(data.train),
                "n_val_normal": len(data.val),
                "n_test": len(data.test),
                "n_test_anomalous": n_anomalous,
                "image_shape": "x".join(map(str, data.train.image_shape)),
                "levels": data.train.levels,
            }
        )
        log(
            f"data: {spec.data.name}, normal classes {list(spec.task.normal_classes)}: "
            f"{len(data.train)} train / {len(data.val)} val normal, {len(data.test)} test "
            f"({n_anomalous} anomalous)"
        )

        seed_all(spec.seed)
        model = model_cls(data.train.image_shape, data.train.levels, **spec.model.params)
        t0 = time.perf_counter()
        fit = _train_stage(model, data, spec, uri, tags)
        log(
            f"trained {model.name} in {time.perf_counter() - t0:.1f} s ({fit.epochs} epochs, "
            f"best {model.monitor} {fit.best_score:.4f})"
        )
        result = _task_stage(model, data, spec, tags)
        results = [(model.likelihood.value, result)]
        results += [("baseline", _baseline_stage(n, data, spec, tags)) for n in spec.task.baselines]

        table = _results_table(results)
        key_metrics = ("auroc", "auprc", "fpr_at_95tpr")
        mlflow.log_metrics(
            {f"{r.method}.{k}": r.metrics[k] for _, r in results for k in key_metrics}
        )
        log_table(table, "results")
        curves = {r.method: r.per_sample["score"].to_numpy() for _, r in results}
        log_figure(roc_figure(data.test_is_anomaly, curves), "roc")
        model_uri = None
        if spec.output.log_model:
            model_uri = log_anomaly_model(
                model, result.threshold, spec.task.score, spec.task.batch_size
            )
        mlflow.log_metric("pipeline_seconds", time.perf_counter() - started)
        return PipelineResult(parent.info.run_id, experiment_id, uri, table, model_uri)

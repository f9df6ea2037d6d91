"""Pieces every pipeline shares: its result, and the training stage of a generative model."""

from __future__ import annotations

import time
from dataclasses import dataclass

import pandas as pd
import torch
from pytorch_lightning.loggers import MLFlowLogger

import mlflow
from genmodels.contract import GenerativeModel
from genmodels.data.imageset import ImageSet
from genmodels.training import FitResult, TrainConfig, fit_model
from pipelines.artifacts import log_figure
from pipelines.plots import image_grid
from pipelines.spec import PipelineSpec


@dataclass(frozen=True)
class PipelineResult:
    """What a pipeline run returns: its MLflow run, the printed table, the logged model."""

    run_id: str
    experiment_id: str
    tracking_uri: str
    table: pd.DataFrame
    model_uri: str | None
    exit_code: int = 0  # non-zero when the run worked but refused to deliver (a release gate)


def train_stage(
    model: GenerativeModel,
    train: ImageSet,
    val: ImageSet,
    spec: PipelineSpec,
    uri: str,
    tags: dict[str, str],
    role: str = "model",
    max_epochs: int | None = None,
) -> FitResult:
    """Train ``model`` in a nested MLflow run ``train:<model>:<role>`` with Lightning's MLflow
    logger; log time, epochs, the best validation score and (for the main model) a sample grid."""
    with mlflow.start_run(run_name=f"train:{model.name}:{role}", nested=True) as run:
        mlflow.set_tags({**tags, "stage": "train", "role": role})
        logger = MLFlowLogger(tracking_uri=uri, run_id=run.info.run_id)
        t0 = time.perf_counter()
        settings = spec.train.model_dump()
        if max_epochs is not None:
            settings["max_epochs"] = max_epochs
        fit = fit_model(
            model, train, val, TrainConfig(**settings), seed=spec.seed, loggers=[logger]
        )
        mlflow.log_metrics({"train_seconds": time.perf_counter() - t0, "epochs_run": fit.epochs})
        if fit.best_score is not None:
            mlflow.log_metric(f"best_{model.monitor or 'score'}", fit.best_score)
        if spec.output.sample_grid and role == "model":
            gen = torch.Generator().manual_seed(spec.seed)
            samples = model.sample(spec.output.sample_grid, generator=gen).cpu().numpy()
            log_figure(image_grid(samples, title=f"samples from {model.name}"), "samples")
    return fit

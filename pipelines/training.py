"""The training stage of a generative model, as every task gets it (:class:`TrackedTrainer`):
a nested run per training, reuse of a finished identical training, resume from the checkpoint of
an interrupted one, and a model file trained elsewhere in place of training."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from mlflow.entities import Run
from mlflow.tracking import MlflowClient
from pytorch_lightning.loggers import MLFlowLogger

import mlflow
from genmodels.contract import Capability, GenerativeModel
from genmodels.data.fingerprint import data_fingerprint
from genmodels.data.imageset import ImageSet
from genmodels.distributed import global_rank
from genmodels.errors import DataError
from genmodels.persistence import load_model, save_model
from genmodels.private import PrivacyReport
from genmodels.registry import build_model
from genmodels.training import FitResult, TrainingDivergedError, fit_model, seed_all
from pipelines.ops.distributed_run import world_size
from pipelines.spec.pipeline import PipelineSpec
from pipelines.tracking.artifacts import log_bytes
from pipelines.tracking.store import STORE_DIR
from tasks.plots import image_grid
from tasks.result import png_bytes

MODEL_FILE = "model_file/model.pt"  # every training logs its model file here (for reuse)


def train_key(
    model: GenerativeModel, train: ImageSet, val: ImageSet, spec: PipelineSpec, role: str,
    settings: dict[str, Any], params: dict[str, Any] | None = None,
) -> str:  # fmt: skip
    """What makes two trainings the same: model class and parameters (``params``, default the
    spec's ``model.params``), training settings, seed, role, image shape and levels, and the
    fingerprint of the training and validation data."""
    text = json.dumps(
        {
            "model": model.name,
            "params": spec.model.model_dump(mode="json")["params"] if params is None else params,
            "train": settings,
            "seed": spec.seed,
            "role": role,
            "shape": list(model.image_shape),
            "levels": model.levels,
            "data": data_fingerprint({"train": train, "val": val}),
        },
        sort_keys=True,
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def checkpoint_dir(key: str) -> Path:
    """Where a training with this key keeps its checkpoints until it finishes (for resume)."""
    return STORE_DIR / "checkpoints" / key


def _finished_training(uri: str, key: str) -> Run | None:
    active = mlflow.active_run()
    if active is None:
        return None
    client = MlflowClient(uri)
    runs = client.search_runs(
        [active.info.experiment_id],
        filter_string=f"tags.train_key = '{key}' and attributes.status = 'FINISHED'",
        order_by=["attributes.start_time DESC"],
        max_results=20,
    )
    for run in runs:  # only a training of its own: not one reused or loaded from a file
        if not {"reused_from", "weights_from"} & set(run.data.tags):
            return run
    return None


def _reuse(model: GenerativeModel, source: Run, uri: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = MlflowClient(uri).download_artifacts(source.info.run_id, MODEL_FILE, tmp)
        model.load_state_dict(load_model(path).state_dict())
    model.eval()


def _load_weights(model: GenerativeModel, path: str) -> None:
    """Load a model file into ``model``; refuse a file of another model, shape or parameters."""
    source = load_model(Path(path).expanduser())
    mine, theirs = dict(model.hparams), dict(source.hparams)
    mine["image_shape"], theirs["image_shape"] = list(model.image_shape), list(source.image_shape)
    if source.name != model.name:
        raise DataError(
            f"model.weights: '{path}' holds a '{source.name}', the spec a '{model.name}'"
        )
    differ = sorted(k for k in mine.keys() | theirs.keys() if mine.get(k) != theirs.get(k))
    if differ:
        detail = ", ".join(f"{k}: file {theirs.get(k)!r}, spec {mine.get(k)!r}" for k in differ)
        raise DataError(f"model.weights: '{path}' was built differently ({detail})")
    model.load_state_dict(source.state_dict())
    model.eval()


def _log_model_file(model: GenerativeModel) -> None:
    """Log the model file where reuse looks for it (``MODEL_FILE``) in the active run."""
    with tempfile.TemporaryDirectory() as tmp:
        path = save_model(model, Path(tmp) / Path(MODEL_FILE).name)
        mlflow.log_artifact(str(path), str(Path(MODEL_FILE).parent))


def _validation_score(model: GenerativeModel, val: ImageSet, batch_size: int = 256) -> float:
    """Mean validation bits/dim (what training monitors), computed here for loaded weights."""
    with torch.no_grad():
        parts = [
            model.bits_per_dim(val.images[i : i + batch_size])
            for i in range(0, len(val), batch_size)
        ]
    return float(torch.cat(parts).double().mean())


def _privacy_of(metrics: dict[str, float]) -> PrivacyReport | None:
    """The privacy report a reused DP training logged (its ``dp_*`` metrics)."""
    if "dp_epsilon" not in metrics:
        return None
    return PrivacyReport(
        epsilon=metrics["dp_epsilon"],
        delta=metrics["dp_delta"],
        noise_multiplier=metrics["dp_noise_multiplier"],
        max_grad_norm=metrics["dp_max_grad_norm"],
        sample_rate=metrics["dp_sample_rate"],
        steps=int(metrics["dp_steps"]),
    )


def train_stage(
    model: GenerativeModel,
    train: ImageSet,
    val: ImageSet,
    spec: PipelineSpec,
    uri: str,
    tags: dict[str, str],
    role: str = "model",
    max_epochs: int | None = None,
    log: Callable[[str], None] = print,
    params: dict[str, Any] | None = None,
) -> FitResult:
    """Train ``model`` in a nested MLflow run ``train:<model>:<role>`` with Lightning's MLflow
    logger; log time, epochs, the best validation score, the model file and (for the main
    model) a sample grid. ``params``: the parameters ``model`` was built with, where they are not
    the spec's ``model.params`` (a background with its own).

    With ``spec.reuse`` a FINISHED training with the same :func:`train_key` in this experiment is
    loaded instead (the nested run is then tagged ``reused_from``, and the log says so).
    """
    overrides = {} if max_epochs is None else {"max_epochs": max_epochs}
    settings = {**spec.train.model_dump(), **overrides}
    key = train_key(model, train, val, spec, role, settings, params)
    weights = spec.model.weights if role == "model" else None
    source = _finished_training(uri, key) if spec.reuse and weights is None else None
    with mlflow.start_run(run_name=f"train:{model.name}:{role}", nested=True) as run:
        mlflow.set_tags({**tags, "stage": "train", "role": role, "train_key": key})
        # the compare view's columns (Lightning's logger adds the model's hyperparameters)
        mlflow.log_params({"role": role, "dataset": spec.data.name, "seed": spec.seed})
        t0 = time.perf_counter()
        if weights is not None:
            _load_weights(model, weights)
            score = _validation_score(model, val) if model.monitor == "val_bpd" else None
            fit = FitResult(model, None, score, 0)
            mlflow.set_tag("weights_from", str(Path(weights).expanduser().resolve()))
            _log_model_file(model)
            log(f"loaded {model.name} ({role}) from {weights} instead of training it")
        elif source is not None:
            _reuse(model, source, uri)
            metrics = source.data.metrics
            score_name = f"best_{model.monitor or 'score'}"
            fit = FitResult(
                model,
                None,
                metrics.get(score_name),
                int(metrics.get("epochs_run", 0)),
                _privacy_of(metrics),
            )
            mlflow.set_tag("reused_from", source.info.run_id)
            log(
                f"reused {model.name} ({role}) from run {source.info.run_id}: same model and "
                "train sections, seed and data (--retrain to train again)"
            )
        else:
            logger = MLFlowLogger(tracking_uri=uri, run_id=run.info.run_id)
            ckpt_dir = checkpoint_dir(key)
            config = spec.train.config(**overrides)
            if world_size(spec) > 1:
                # each process would need the same checkpoint to resume: a distributed
                # training starts over, and only rank 0 (which writes them) clears old ones
                config = replace(config, resume=False)
                if global_rank(os.environ, spec.train.devices) == 0 and ckpt_dir.exists():
                    log(f"{model.name} ({role}): distributed training starts over")
                    shutil.rmtree(ckpt_dir, ignore_errors=True)
            elif (ckpt_dir / "last.ckpt").is_file():
                log(f"resuming {model.name} ({role}) from the checkpoint of an interrupted run")
                mlflow.set_tag("resumed", "true")
            try:
                fit = fit_model(model, train, val, config, spec.seed, [logger], ckpt_dir)
            except TrainingDivergedError as err:
                raise TrainingDivergedError(
                    f"{err}; the last good checkpoint is kept in {ckpt_dir}"
                ) from None
            shutil.rmtree(ckpt_dir, ignore_errors=True)  # finished: nothing left to resume
            _log_model_file(model)
        mlflow.log_metrics({"train_seconds": time.perf_counter() - t0, "epochs_run": fit.epochs})
        if fit.privacy is not None:
            mlflow.log_metrics({f"dp_{k}": float(v) for k, v in fit.privacy.as_dict().items()})
        if fit.best_score is not None:
            mlflow.log_metric(f"best_{model.monitor or 'score'}", fit.best_score)
        if spec.output.sample_grid and role == "model":
            gen = torch.Generator().manual_seed(spec.seed)
            samples = model.sample(spec.output.sample_grid, generator=gen).cpu().numpy()
            grid = image_grid(samples, title=f"samples from {model.name}")
            log_bytes(png_bytes(grid), "plots/samples.png")
    return fit


class TrackedTrainer:
    """The :class:`~tasks.inputs.ModelTrainer` a task gets: the spec's ``model`` and ``train``
    sections, each recorded fit a nested run of the pipeline's run (:func:`train_stage`)."""

    def __init__(
        self,
        spec: PipelineSpec,
        model_cls: type[GenerativeModel],
        uri: str,
        tags: dict[str, str],
        log: Callable[[str], None] = print,
    ) -> None:
        self.spec, self.model_cls, self.uri, self.tags, self.log = spec, model_cls, uri, tags, log
        self.params: Mapping[str, Any] = dict(spec.model.params)
        self.batch_size = spec.train.batch_size

    def build(
        self,
        image_shape: tuple[int, int, int],
        levels: int,
        seed: int,
        num_classes: int | None = None,
        overrides: Mapping[str, Any] | None = None,
    ) -> GenerativeModel:
        params = {**self.params, **(overrides or {})}
        if num_classes is not None and self.model_cls.supports(Capability.CONDITIONAL):
            params.setdefault("num_classes", num_classes)
        seed_all(seed)
        return build_model(self.model_cls, image_shape, levels, params)

    def fit(
        self,
        model: GenerativeModel,
        train: ImageSet,
        val: ImageSet,
        role: str = "model",
        max_epochs: int | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> FitResult:
        return train_stage(
            model, train, val, self.spec, self.uri, self.tags, role, max_epochs, self.log,
            None if params is None else dict(params),
        )  # fmt: skip

    def fit_unrecorded(
        self, model: GenerativeModel, train: ImageSet, val: ImageSet, seed: int
    ) -> FitResult:
        return fit_model(model, train, val, self.spec.train.config(), seed=seed)

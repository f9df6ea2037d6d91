"""The parent run of a pipeline execution, and the one path by which every task's result is
recorded in it: params, tags, metrics, tables, figures, files, nested stage runs, the delivered
model (logged, registered, judged for the champion alias) and a release bundle."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd

import mlflow
from genmodels.contract import GenerativeModel
from pipelines.ops.release_bundle import next_version, write_bundle
from pipelines.spec.pipeline import PipelineSpec
from pipelines.tracking.artifacts import log_bytes, log_table
from pipelines.tracking.champion import promote_if_better
from pipelines.tracking.model_export import log_detector
from pipelines.tracking.store import pipeline_tags, setup_experiment
from tasks.anomaly.detector import Detector
from tasks.result import Bundle, Record, TaskResult


@dataclass(frozen=True)
class PipelineResult:
    """What a pipeline run returns: its MLflow run, the printed table, the logged model."""

    run_id: str
    experiment_id: str
    tracking_uri: str
    table: pd.DataFrame
    model_uri: str | None
    exit_code: int = 0  # non-zero when the run worked but refused to deliver (a release gate)


@dataclass(frozen=True)
class PipelineRun:
    """The parent MLflow run of one pipeline execution (see :func:`pipeline_run`)."""

    run_id: str
    experiment_id: str
    uri: str
    tags: dict[str, str]
    started: float

    def finish(
        self, table: pd.DataFrame, model_uri: str | None = None, exit_code: int = 0
    ) -> PipelineResult:
        """Log the wall time and build the result (call inside the ``with`` block)."""
        mlflow.log_metric("pipeline_seconds", time.perf_counter() - self.started)
        return PipelineResult(
            self.run_id, self.experiment_id, self.uri, table, model_uri, exit_code
        )


@contextmanager
def pipeline_run(spec: PipelineSpec, model_cls: type[GenerativeModel]) -> Iterator[PipelineRun]:
    """Open the parent run: experiment, comparison tags, the spec flattened as params. An
    exception inside marks the run FAILED (MLflow's context manager) and propagates."""
    uri, experiment_id = setup_experiment(spec.output.experiment)
    tags = pipeline_tags(spec.task.name, spec, model_cls)
    with mlflow.start_run(experiment_id=experiment_id, run_name=run_name(spec)) as parent:
        started = time.perf_counter()
        mlflow.set_tags(tags)
        mlflow.log_params(spec.flat_params())
        yield PipelineRun(parent.info.run_id, experiment_id, uri, tags, started)


def run_name(spec: PipelineSpec) -> str:
    """A pipeline run's name says what ran on what: ``anomaly-detect: realnvp on digits``."""
    return f"{spec.name}: {spec.model.name} on {spec.data.name}"


def stage_params(spec: PipelineSpec) -> dict[str, object]:
    """What every nested run shares and the compare view needs to tell runs apart."""
    return {
        "model": spec.model.name,
        "dataset": spec.data.name,
        "seed": spec.seed,
        **{f"model.{k}": v for k, v in spec.model.params.items()},
    }


def _log_record(record: Record) -> None:
    """Everything a record holds, into the active run."""
    if record.params:
        mlflow.log_params(record.params)
    if record.tags:
        mlflow.set_tags(record.tags)
    if record.metrics:
        mlflow.log_metrics(record.metrics)
    for name, table in record.tables.items():
        log_table(table, name)
    for name, png in record.figures.items():
        log_bytes(png, f"plots/{name}.png")
    for path, content in record.files.items():
        log_bytes(content, path)


def _publish(bundle: Bundle, spec: PipelineSpec, log: Callable[[str], None]) -> None:
    """The datasheet into the run; the bundle onto disk when its gate passed."""
    root = Path(bundle.root)
    version = next_version(root, spec.name)
    sheet, markdown = bundle.describe(spec.name, version, spec.config_hash())
    mlflow.log_dict(sheet, "datasheet/datasheet.json")
    mlflow.log_text(markdown, "datasheet/DATASHEET.md")
    if bundle.passed:
        folder, archive = write_bundle(
            root, spec.name, version, bundle.images, bundle.labels, bundle.class_names, sheet,
            markdown, bundle.image_format,
        )  # fmt: skip
        mlflow.set_tags({"release": "written", "release_path": str(folder.resolve())})
        log(f"release written: {folder} and {archive}")
    else:
        mlflow.set_tags({"release": "refused", "release_reasons": "; ".join(bundle.failures)})
        log("release REFUSED by the gate: " + "; ".join(bundle.failures))


def record_result(
    result: TaskResult, spec: PipelineSpec, run: PipelineRun, log: Callable[[str], None]
) -> PipelineResult:
    """Record a task's result in the active pipeline run (call inside :func:`pipeline_run`)."""
    _log_record(result)
    for stage in result.stages:
        with mlflow.start_run(run_name=stage.name, nested=True):
            mlflow.set_tags(run.tags)
            # a baseline's run names its own model (tag `model`): not the spec's
            shared = stage_params(spec) if "model" not in stage.tags else {
                "dataset": spec.data.name, "seed": spec.seed
            }  # fmt: skip
            mlflow.log_params({**shared, **stage.params})
            _log_record(replace(stage, params={}))
    model_uri = None
    if result.model is not None and spec.output.log_model:
        if not isinstance(result.model, Detector):
            raise TypeError(f"cannot log a {type(result.model).__name__} as an MLflow model")
        model_uri = log_detector(result.model, onnx=spec.output.onnx)
        if spec.output.registered_model and result.selection is not None:
            metric, value = result.selection
            decision = promote_if_better(spec.output.registered_model, model_uri, value, metric)
            mlflow.set_tags(decision.tags())
            log(decision.message)
    if result.bundle is not None:
        _publish(result.bundle, spec, log)
    return run.finish(result.table, model_uri, result.exit_code)

"""Run a validated spec: the same composition for every task.

Refuse a model the task cannot use (before any data loads), open the parent run, load the data
section's splits, hand the task its own section, the seed, the data and a trainer for the spec's
model, and record what the task returns.
"""

from __future__ import annotations

from collections.abc import Callable

import mlflow
from genmodels.data.fingerprint import data_fingerprint
from genmodels.data.spec import load_splits
from genmodels.registry import get_model_class
from pipelines.spec.pipeline import PipelineSpec
from pipelines.tracking.runs import PipelineResult, pipeline_run, record_result
from pipelines.training import TrackedTrainer
from tasks.inputs import TaskInputs
from tasks.registry import get_task


def run_pipeline(spec: PipelineSpec, log: Callable[[str], None] = print) -> PipelineResult:
    """Run ``spec`` end to end; raises on failure (the run is then marked FAILED)."""
    task = get_task(spec.task.name)
    model_cls = get_model_class(spec.model.name)
    spec.task.check_model(model_cls)  # refuse before any data or weights load
    with pipeline_run(spec, model_cls) as run:
        splits = load_splits(spec.data)
        run.tags["data_hash"] = data_fingerprint(splits)
        mlflow.set_tag("data_hash", run.tags["data_hash"])
        trainer = TrackedTrainer(spec, model_cls, run.uri, run.tags, log)
        inputs = TaskInputs(spec.task, spec.seed, splits, spec.data.name, trainer, log)
        result = task.run(inputs)
        return record_result(result, spec, run, log)

"""Run a validated spec: dispatch on its task."""

from __future__ import annotations

from collections.abc import Callable

from pipelines.anomaly_pipeline import run_anomaly
from pipelines.augment_pipeline import run_augment_pipeline
from pipelines.colorize_pipeline import run_colorize_pipeline
from pipelines.share_pipeline import run_share_pipeline
from pipelines.spec import PipelineSpec
from pipelines.stages import PipelineResult
from pipelines.transfer_pipeline import run_transfer_pipeline

_RUNNERS: dict[str, Callable[..., PipelineResult]] = {
    "anomaly": run_anomaly,
    "augment": run_augment_pipeline,
    "colorize": run_colorize_pipeline,
    "transfer": run_transfer_pipeline,
    "share": run_share_pipeline,
}


def run_pipeline(spec: PipelineSpec, log: Callable[[str], None] = print) -> PipelineResult:
    return _RUNNERS[spec.task.name](spec, log=log)

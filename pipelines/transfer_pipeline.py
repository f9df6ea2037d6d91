"""The transfer pipeline: teacher CNN + generator on the training split -> kernel students on a
small real set plus teacher-labelled generated images -> curves and table, in MLflow.

Metrics: ``teacher_accuracy``; ``acc.<student>.<mode>.n<N>`` and
``gap_closed.<student>.<mode>.n<N>`` (means over seeds). Tables: per-seed rows, the summary,
and the top confused pair's test errors before and after. Plot: student accuracy against the
number of generated images.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pandas as pd
import torch
from matplotlib.figure import Figure

import mlflow
from genmodels.contract import Capability, GenerativeModel
from genmodels.errors import CapabilityError, DataError
from genmodels.registry import build_model, get_model_class
from genmodels.training import seed_all
from pipelines.artifacts import log_figure, log_table
from pipelines.datasets import load_splits
from pipelines.fingerprint import data_fingerprint
from pipelines.plots import ci_curves
from pipelines.spec import PipelineSpec, TransferTaskSpec
from pipelines.stages import PipelineResult, pipeline_run, train_stage
from tasks.classifier import ClassifierConfig, accuracy, predict_proba, train_classifier
from tasks.transfer import TransferConfig, run_transfer, summarize


def _task(spec: PipelineSpec) -> TransferTaskSpec:
    if not isinstance(spec.task, TransferTaskSpec):
        raise TypeError(f"the transfer pipeline cannot run task '{spec.task.name}'")
    return spec.task


def _config(task: TransferTaskSpec) -> TransferConfig:
    return TransferConfig(
        k_real=task.k_real,
        ns=tuple(task.ns),
        students=tuple(task.students),
        focus=task.focus,
        focus_pairs=task.focus_pairs,
        focus_share=task.focus_share,
        candidates=task.candidates,
        probe=task.probe,
        seeds=tuple(task.seeds),
    )


def _sampler(
    model: GenerativeModel, num_classes: int
) -> Callable[[int, torch.Generator], torch.Tensor]:
    conditional = model.supports(Capability.CONDITIONAL)

    def sample(n: int, generator: torch.Generator) -> torch.Tensor:
        parts = []
        for start in range(0, n, 512):
            size = min(512, n - start)
            labels = torch.arange(start, start + size) % num_classes if conditional else None
            parts.append(model.sample(size, condition=labels, generator=generator).cpu())
        return torch.cat(parts)

    return sample


def curves_figure(summary: pd.DataFrame, teacher: float) -> Figure:
    groups = {
        f"{student} ({mode})": (
            list(g["n"]),
            list(g["accuracy"]),
            list(g["ci_low"]),
            list(g["ci_high"]),
        )
        for (student, mode), g in summary.groupby(["student", "mode"], sort=False)
    }
    return ci_curves(
        groups,
        "teacher-labelled generated images added",
        "student test accuracy (mean, 95% CI over seeds)",
        reference=("teacher", teacher),
    )


def _pair_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Errors on each seed's most confused pair (true a -> b or b -> a), before and after."""
    n_max = rows["n"].max()
    keep = rows[rows["n"].isin([0, n_max])]
    return keep[["seed", "student", "mode", "n", "pair", "pair_errors"]].reset_index(drop=True)


def run_transfer_pipeline(spec: PipelineSpec, log: Callable[[str], None] = print) -> PipelineResult:
    """Run a transfer spec end to end; raises on failure (the run is marked FAILED)."""
    task = _task(spec)
    model_cls = get_model_class(spec.model.name)
    if not model_cls.supports(Capability.SAMPLE):
        raise CapabilityError(
            f"task 'transfer' needs a model that samples; '{model_cls.name}' cannot"
        )
    with pipeline_run(spec, "transfer", model_cls) as run:
        uri, tags = run.uri, run.tags
        splits = load_splits(spec.data)
        train, val, test = splits["train"], splits["val"], splits["test"]
        if train.labels is None or val.labels is None or test.labels is None:
            raise DataError("task 'transfer' needs labelled train, val and test images")
        num_classes = int(max(train.labels.max(), test.labels.max())) + 1
        mlflow.set_tag("data_hash", data_fingerprint(splits))
        mlflow.log_params({"n_train": len(train), "n_test": len(test), "num_classes": num_classes})
        log(f"data: {spec.data.name}: train {len(train)}, val {len(val)}, test {len(test)}")
        t0 = time.perf_counter()
        teacher = train_classifier(
            train, val, num_classes, ClassifierConfig(**task.teacher.model_dump()), spec.seed
        )
        teacher_acc = accuracy(teacher, test)
        mlflow.log_metrics(
            {"teacher_accuracy": teacher_acc, "teacher_seconds": time.perf_counter() - t0}
        )
        log(f"teacher: test accuracy {teacher_acc:.3f} ({time.perf_counter() - t0:.1f} s)")
        seed_all(spec.seed)
        params = dict(spec.model.params)
        if model_cls.supports(Capability.CONDITIONAL):
            params.setdefault("num_classes", num_classes)
        generator = build_model(model_cls, train.image_shape, train.levels, params)
        t0 = time.perf_counter()
        fit = train_stage(generator, train, val, spec, uri, tags, log=log)
        log(f"generator {generator.name}: {time.perf_counter() - t0:.1f} s ({fit.epochs} epochs)")
        rows = run_transfer(
            train,
            test.images,
            test.labels,
            num_classes,
            lambda images: predict_proba(teacher, images),
            _sampler(generator, num_classes),
            _config(task),
            log,
        )
        summary = summarize(rows)
        for _, r in summary.iterrows():
            key = f"{r['student']}.{r['mode']}.n{r['n']}"
            mlflow.log_metric(f"acc.{key}", float(r["accuracy"]))
            if pd.notna(r["gap_closed"]):
                mlflow.log_metric(f"gap_closed.{key}", float(r["gap_closed"]))
        log_table(rows, "rows")
        log_table(summary, "results")
        log_table(_pair_table(rows), "confused_pair")
        log_figure(curves_figure(summary, teacher_acc), "accuracy_vs_n")
        return run.finish(summary, None)

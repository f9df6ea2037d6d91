"""The augmentation pipeline: k-shot draws -> generator -> classifier arms -> table, in MLflow.

One parent run per execution with the spec as params, the per-draw rows and the summary as
tables, ``acc.<arm>.k<k>`` (mean over seeds), ``gain.<arm>.k<k>`` and
``gain_vs_classic.<arm>.k<k>`` metrics (``+`` in arm names becomes ``_``), and a plot of
accuracy against k for every arm. Only the data set's training split is ever drawn from; the test
split only measures.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
from matplotlib.figure import Figure

import mlflow
from genmodels.contract import Capability, GenerativeModel
from genmodels.data.imageset import ImageSet
from genmodels.errors import CapabilityError, DataError
from genmodels.registry import build_model, get_model_class
from genmodels.training import fit_model, seed_all
from pipelines.artifacts import log_figure, log_table
from pipelines.datasets import load_splits
from pipelines.fingerprint import data_fingerprint
from pipelines.plots import ci_curves
from pipelines.spec import AugmentTaskSpec, PipelineSpec
from pipelines.stages import PipelineResult, pipeline_run
from tasks.augment import AugmentConfig, ClassifierConfig, run_augment, summarize


def _task(spec: PipelineSpec) -> AugmentTaskSpec:
    if not isinstance(spec.task, AugmentTaskSpec):
        raise TypeError(f"the augment pipeline cannot run task '{spec.task.name}'")
    return spec.task


def _config(task: AugmentTaskSpec) -> AugmentConfig:
    return AugmentConfig(
        ks=tuple(None if k == "all" else int(k) for k in task.ks),
        seeds=tuple(task.seeds),
        multiplier=task.multiplier,
        arms=tuple(task.arms),
        filter_threshold=task.filter_threshold,
        flips=task.flips,
        generator_copies=task.generator_copies,
        pretrain_multiplier=task.pretrain_multiplier,
        classifier=ClassifierConfig(**task.classifier.model_dump()),
    )


def metric_name(arm: str) -> str:
    """MLflow metric names allow no '+': ``real+classic+gen`` -> ``real_classic_gen``."""
    return arm.replace("+", "_")


def accuracy_figure(summary: pd.DataFrame) -> Figure:
    groups = {
        str(arm): (list(g["k"]), list(g["mean"]), list(g["ci_low"]), list(g["ci_high"]))
        for arm, g in summary.groupby("arm", sort=False)
    }
    return ci_curves(
        groups,
        "labelled real images per class (k)",
        "test accuracy (mean, 95% CI over seeds)",
        categorical_x=True,
    )


def run_augment_pipeline(spec: PipelineSpec, log: Callable[[str], None] = print) -> PipelineResult:
    """Run an augment spec end to end; raises on failure (the run is marked FAILED)."""
    task = _task(spec)
    model_cls = get_model_class(spec.model.name)
    if not model_cls.supports(Capability.SAMPLE):
        raise CapabilityError(
            f"task 'augment' needs a model that samples; '{model_cls.name}' cannot"
        )
    needs_gen = any(a not in ("real", "real+classic") for a in task.arms)
    if needs_gen and not model_cls.supports(Capability.CONDITIONAL) and "real" not in task.arms:
        raise CapabilityError(
            f"model '{model_cls.name}' is unconditional: its samples are labelled by the real-only "
            "classifier, so the arms must include 'real'"
        )
    with pipeline_run(spec, "augment", model_cls) as run:
        splits = load_splits(spec.data)
        mlflow.set_tag("data_hash", data_fingerprint(splits))
        pool, test = splits["train"], splits["test"]
        if pool.labels is None or test.labels is None:
            raise DataError("task 'augment' needs labelled training and test images")
        num_classes = int(max(pool.labels.max(), test.labels.max())) + 1
        mlflow.log_params({"n_pool": len(pool), "n_test": len(test), "num_classes": num_classes})
        log(f"data: {spec.data.name}: pool {len(pool)} labelled, test {len(test)}")

        def fit_generator(fit: ImageSet, val: ImageSet, seed: int) -> GenerativeModel:
            seed_all(seed)
            params = dict(spec.model.params)
            if model_cls.supports(Capability.CONDITIONAL):
                params.setdefault("num_classes", num_classes)
            model = build_model(model_cls, fit.image_shape, fit.levels, params)
            fit_model(model, fit, val, spec.train.config(), seed=seed)
            return model

        rows = run_augment(pool, test, num_classes, fit_generator, _config(task), log)
        summary = summarize(rows)
        for _, r in summary.iterrows():
            key = f"{metric_name(str(r['arm']))}.k{r['k']}"
            mlflow.log_metric(f"acc.{key}", float(r["mean"]))
            for column in ("gain", "gain_vs_classic"):
                if column in r and pd.notna(r[column]):
                    mlflow.log_metric(f"{column}.{key}", float(r[column]))
        log_table(rows, "rows")
        log_table(summary, "results")
        log_figure(accuracy_figure(summary), "accuracy_vs_k")
        return run.finish(summary, None)

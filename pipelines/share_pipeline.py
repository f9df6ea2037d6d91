"""The share pipeline: train the generative model on the private data, sample a labelled
synthetic set, audit it, and write the release bundle only if the gate passes.

Splits: the model trains on ``train`` (``val`` for early stopping); ``test`` is the holdout that
no model sees: the privacy reference and the utility/fidelity test set. MLflow gets every audit
metric, the datasheet, a grid of synthetic samples and a grid of the synthetic images closest to
training records next to those records (internal to the tracking store, never in the bundle).
A refused release ends the run normally with the tag ``release=refused`` and exit code 3.
"""

from __future__ import annotations

import math
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import torch

import mlflow
from genmodels.contract import Capability
from genmodels.data.imageset import ImageSet
from genmodels.errors import CapabilityError, DataError
from genmodels.persistence import save_model
from genmodels.registry import build_model, get_model_class
from genmodels.training import seed_all
from pipelines.artifacts import log_figure, log_table
from pipelines.datasets import load_splits
from pipelines.fingerprint import data_fingerprint
from pipelines.plots import column_grid, image_grid
from pipelines.release_bundle import next_version, write_bundle
from pipelines.spec import PipelineSpec, ShareTaskSpec
from pipelines.stages import PipelineResult, pipeline_run, train_stage
from tasks.classifier import ClassifierConfig, predict_proba, train_classifier
from tasks.generate import generate_labelled
from tasks.share import AuditConfig, ReleaseGate, audit_release, build_datasheet, to_markdown
from tasks.share.datasheet import DEFAULT_INTENDED_USE, DEFAULT_LIMITS

RELEASE_REFUSED = 3


def _task(spec: PipelineSpec) -> ShareTaskSpec:
    if not isinstance(spec.task, ShareTaskSpec):
        raise TypeError(f"the share pipeline cannot run task '{spec.task.name}'")
    return spec.task


def _source(splits: dict[str, ImageSet]) -> dict[str, object]:
    """Fingerprint and counts of the source data; no pixels."""
    counts: dict[str, object] = {}
    for name, ims in splits.items():
        per_class = (
            {}
            if ims.labels is None
            else {
                (ims.class_names[c] if c < len(ims.class_names) else str(c)): int(n)
                for c, n in enumerate(torch.bincount(ims.labels).tolist())
            }
        )
        counts[name] = {"images": len(ims), "per_class": per_class}
    first = next(iter(splits.values()))
    return {
        "sha256_16": data_fingerprint(splits),
        "image_shape": list(first.image_shape),
        "levels": first.levels,
        "splits": counts,
    }


def run_share_pipeline(spec: PipelineSpec, log: Callable[[str], None] = print) -> PipelineResult:
    """Run a share spec end to end; raises on failure (the run is marked FAILED)."""
    task = _task(spec)
    model_cls = get_model_class(spec.model.name)
    if not model_cls.supports(Capability.SAMPLE):
        raise CapabilityError(f"task 'share' needs a model that samples; '{model_cls.name}' cannot")
    with pipeline_run(spec, "share", model_cls) as run:
        uri, tags = run.uri, run.tags
        splits = load_splits(spec.data)
        train, val, holdout = splits["train"], splits["val"], splits["test"]
        if train.labels is None or val.labels is None or holdout.labels is None:
            raise DataError(
                "task 'share' needs labelled images (utility is measured by a classifier)"
            )
        num_classes = int(max(train.labels.max(), holdout.labels.max())) + 1
        mlflow.set_tag("data_hash", data_fingerprint(splits))
        log(f"data: {spec.data.name}: train {len(train)}, val {len(val)}, holdout {len(holdout)}")
        seed_all(spec.seed)
        params = dict(spec.model.params)
        conditional = model_cls.supports(Capability.CONDITIONAL)
        if conditional:
            params.setdefault("num_classes", num_classes)
        model = build_model(model_cls, train.image_shape, train.levels, params)
        t0 = time.perf_counter()
        fit = train_stage(model, train, val, spec, uri, tags, log=log)
        log(f"trained {model.name} in {time.perf_counter() - t0:.1f} s ({fit.epochs} epochs)")
        classifier = ClassifierConfig(**task.classifier.model_dump())
        labeller = None
        if not conditional:  # an unconditional model's samples are named by a real-data classifier
            real_clf = train_classifier(train, val, num_classes, classifier, spec.seed)
            labeller = lambda images: predict_proba(real_clf, images)  # noqa: E731
        n = task.n_synthetic or len(train)
        generated = generate_labelled(
            model,
            -(-n // num_classes),
            num_classes,
            torch.Generator().manual_seed(spec.seed),
            labeller,
        )
        synthetic = ImageSet(
            generated.images[:n], generated.labels[:n], train.levels, train.class_names
        )
        with tempfile.TemporaryDirectory() as tmp:
            model_file = save_model(model, Path(tmp) / "model.pt")
            model_bytes = model_file.stat().st_size
            if task.include_model:
                mlflow.log_artifact(str(model_file), "model")
        gate = ReleaseGate(**task.gate.model_dump())
        config = AuditConfig(
            quantile=task.quantile,
            k_nn=task.k_nn,
            max_feature_images=task.max_feature_images,
            max_membership_images=task.max_membership_images,
            classifier=classifier,
            gate=gate,
            seed=spec.seed,
        )
        privacy = fit.privacy
        if privacy is not None:
            log(
                f"trained with DP-SGD: epsilon {privacy.epsilon:.2f} at delta {privacy.delta:.1e}"
                f" (noise {privacy.noise_multiplier:.2f}, clip {privacy.max_grad_norm}, "
                f"{privacy.steps} steps)"
            )
        audit = audit_release(
            model, synthetic, train, val, holdout, num_classes, model_bytes, config, log,
            dp_epsilon=privacy.epsilon if privacy is not None else math.inf,
        )  # fmt: skip
        # MLflow stores no infinity: a model trained without DP has no dp_epsilon metric
        mlflow.log_metrics({k: v for k, v in audit.metrics.items() if math.isfinite(v)})
        log_figure(image_grid(synthetic.images[:64].numpy(), title="synthetic"), "synthetic")
        if task.closest_pairs:
            closest = audit.distances.closest(task.closest_pairs)
            nearest = audit.distances.synthetic_nearest[closest]
            grid = {
                "synthetic": synthetic.images[closest].numpy(),
                "closest training record": train.images[nearest].numpy(),
            }
            log_figure(
                column_grid(grid, "closest pairs (internal: never released)"), "closest_pairs"
            )
        root = Path(task.release_dir)
        version = next_version(root, spec.name)
        sheet = build_datasheet(
            name=spec.name,
            version=version,
            source=_source(splits),
            model={
                "name": model.name,
                "likelihood": model.likelihood.value,
                "params": params,
                "epochs": fit.epochs,
                "bytes": model_bytes,
                "differential_privacy": (
                    privacy.as_dict()
                    if privacy is not None
                    else "none: trained without DP-SGD (set train.privacy)"
                ),
            },
            synthetic={
                "images": len(synthetic),
                "format": task.image_format,
                "labels": "class-conditional sampling" if conditional else "real-data classifier",
            },
            metrics=audit.metrics,
            gate={
                **task.gate.model_dump(),
                "passed": audit.passed,
                "failures": audit.failures,
            },
            seed=spec.seed,
            spec_hash=spec.config_hash(),
            intended_use=task.intended_use or DEFAULT_INTENDED_USE,
            limits=task.limits or DEFAULT_LIMITS,
        )
        markdown = to_markdown(sheet)
        mlflow.log_dict(sheet, "datasheet/datasheet.json")
        mlflow.log_text(markdown, "datasheet/DATASHEET.md")
        table = pd.DataFrame([{"metric": k, "value": v} for k, v in audit.metrics.items()])
        log_table(table, "audit")
        exit_code = 0
        if audit.passed:
            folder, archive = write_bundle(
                root, spec.name, version, synthetic.images, generated.labels[:n],
                synthetic.class_names, sheet, markdown, task.image_format,
            )  # fmt: skip
            mlflow.set_tags({"release": "written", "release_path": str(folder.resolve())})
            log(f"release written: {folder} and {archive}")
        else:
            exit_code = RELEASE_REFUSED
            mlflow.set_tags({"release": "refused", "release_reasons": "; ".join(audit.failures)})
            log("release REFUSED by the gate: " + "; ".join(audit.failures))
        return run.finish(table, None, exit_code)

"""The share task's entry point: train the generative model on the private training split,
sample a labelled synthetic set, audit it, and hand the pipeline a release bundle that is written
only if the gate passes.

Splits: the model trains on ``train`` (``val`` for early stopping); ``test`` is the holdout that
no model sees: the privacy reference and the utility/fidelity test set. Recorded: every audit
metric, the datasheet, a grid of synthetic samples and a grid of the synthetic images closest to
training records next to those records (internal to the tracking store, never in the bundle).
"""

from __future__ import annotations

import math
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from genmodels.contract import Capability
from genmodels.data.fingerprint import data_fingerprint
from genmodels.data.imageset import ImageSet, labelled_classes
from genmodels.persistence import save_model
from tasks.classifier import predict_proba, train_classifier
from tasks.generate import generate_labelled
from tasks.inputs import TaskInputs
from tasks.plots import column_grid, image_grid
from tasks.result import Bundle, TaskResult, finite_metrics
from tasks.share.audit import audit_release
from tasks.share.datasheet import (
    DEFAULT_INTENDED_USE,
    DEFAULT_LIMITS,
    build_datasheet,
    to_markdown,
)
from tasks.share.spec import ShareSpec


def source_description(splits: Mapping[str, ImageSet]) -> dict[str, object]:
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
        "sha256_16": data_fingerprint(dict(splits)),
        "image_shape": list(first.image_shape),
        "levels": first.levels,
        "splits": counts,
    }


def run(inputs: TaskInputs[ShareSpec]) -> TaskResult:
    """Train, sample, audit; the result carries the bundle (and exit code 3 when the gate
    refuses it)."""
    spec, seed, log = inputs.spec, inputs.seed, inputs.log
    train, val, holdout = inputs.data["train"], inputs.data["val"], inputs.data["test"]
    num_classes = labelled_classes(
        {"train": train, "val": val, "test": holdout},
        "share",
        " (utility is measured by a classifier)",
    )
    log(f"data: {inputs.data_name}: train {len(train)}, val {len(val)}, holdout {len(holdout)}")
    model = inputs.models.build(train.image_shape, train.levels, seed, num_classes)
    conditional = model.supports(Capability.CONDITIONAL)
    params: dict[str, Any] = dict(inputs.models.params)
    if conditional:
        params.setdefault("num_classes", num_classes)
    t0 = time.perf_counter()
    fit = inputs.models.fit(model, train, val)
    log(f"trained {model.name} in {time.perf_counter() - t0:.1f} s ({fit.epochs} epochs)")
    labeller = None
    if not conditional:  # an unconditional model's samples are named by a real-data classifier
        real_clf = train_classifier(train, val, num_classes, spec.classifier, seed)
        labeller = lambda images: predict_proba(real_clf, images)  # noqa: E731
    n = spec.n_synthetic or len(train)
    generated = generate_labelled(
        model, -(-n // num_classes), num_classes, torch.Generator().manual_seed(seed), labeller
    )
    synthetic = ImageSet(
        generated.images[:n], generated.labels[:n], train.levels, train.class_names
    )
    result = TaskResult()
    with tempfile.TemporaryDirectory() as tmp:
        model_file = save_model(model, Path(tmp) / "model.pt")
        model_bytes = model_file.stat().st_size
        if spec.include_model:
            result.files["model/model.pt"] = model_file.read_bytes()
    privacy = fit.privacy
    if privacy is not None:
        log(
            f"trained with DP-SGD: epsilon {privacy.epsilon:.2f} at delta {privacy.delta:.1e}"
            f" (noise {privacy.noise_multiplier:.2f}, clip {privacy.max_grad_norm}, "
            f"{privacy.steps} steps)"
        )
    audit = audit_release(
        model, synthetic, train, val, holdout, num_classes, model_bytes, spec, seed, log,
        dp_epsilon=privacy.epsilon if privacy is not None else math.inf,
    )  # fmt: skip
    result.metrics.update(finite_metrics(audit.metrics))  # a store holds no infinity
    result.figure("synthetic", image_grid(synthetic.images[:64].numpy(), title="synthetic"))
    if spec.closest_pairs:
        closest = audit.distances.closest(spec.closest_pairs)
        nearest = audit.distances.synthetic_nearest[closest]
        grid = {
            "synthetic": synthetic.images[closest].numpy(),
            "closest training record": train.images[nearest].numpy(),
        }
        result.figure(
            "closest_pairs", column_grid(grid, "closest pairs (internal: never released)")
        )
    source = source_description(inputs.data)
    model_card = {
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
    }

    def describe(name: str, version: int, spec_hash: str) -> tuple[dict[str, Any], str]:
        sheet = build_datasheet(
            name=name,
            version=version,
            source=source,
            model=model_card,
            synthetic={
                "images": len(synthetic),
                "format": spec.image_format,
                "labels": "class-conditional sampling" if conditional else "real-data classifier",
            },
            metrics=audit.metrics,
            gate={**spec.gate.model_dump(), "passed": audit.passed, "failures": audit.failures},
            seed=seed,
            spec_hash=spec_hash,
            intended_use=spec.intended_use or DEFAULT_INTENDED_USE,
            limits=spec.limits or DEFAULT_LIMITS,
        )
        return sheet, to_markdown(sheet)

    result.bundle = Bundle(
        synthetic.images,
        generated.labels[:n],
        synthetic.class_names,
        spec.image_format,
        spec.release_dir,
        audit.passed,
        audit.failures,
        describe,
    )
    table = pd.DataFrame([{"metric": k, "value": v} for k, v in audit.metrics.items()])
    result.tables["audit"] = table
    result.table = table
    return result

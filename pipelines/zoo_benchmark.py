"""Measure every model of the zoo on one data set, side by side, and log it to MLflow.

Columns: family, likelihood kind, capabilities, parameters, training seconds per epoch, test
bits/dim (where there is a likelihood; a bound for BOUND models), seconds per 64 samples, model
file bytes. Every model gets the same budget (epochs, batch size, seed) and a sample grid in MLflow.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch

import mlflow
from genmodels.contract import Likelihood
from genmodels.data import ensure_splits, load_dataset
from genmodels.persistence import save_model
from genmodels.registry import get_model_class, list_models
from genmodels.training import TrainConfig, fit_model, seed_all
from pipelines.artifacts import log_figure, log_table
from pipelines.plots import image_grid
from pipelines.tracking import setup_experiment
from tasks.anomaly.scores import score_images


@dataclass(frozen=True)
class ZooBudget:
    """The same training budget for every model."""

    dataset: str = "usps"
    path: str | None = "../shared/data/digits/usps.npz"
    epochs: int = 3
    batch_size: int = 64
    seed: int = 0
    models: tuple[str, ...] = ()
    test_images: int | None = None  # score only the first N test images (None: all)


def measure_model(name: str, budget: ZooBudget, splits: dict, log: object = print) -> dict:
    cls = get_model_class(name)
    train, val, test = splits["train"], splits["val"], splits["test"]
    seed_all(budget.seed)
    model = cls(train.image_shape, train.levels)
    config = TrainConfig(max_epochs=budget.epochs, batch_size=budget.batch_size, patience=0)
    t0 = time.perf_counter()
    fit = fit_model(model, train, val, config, seed=budget.seed)
    train_seconds = time.perf_counter() - t0
    row: dict = {
        "model": name,
        "family": cls.family,
        "likelihood": cls.likelihood.value,
        "capabilities": ", ".join(sorted(c.value for c in cls.capabilities)),
        "parameters": model.num_parameters(),
        "epochs": max(fit.epochs, 1) if not cls.closed_form else 0,
        "train_s": train_seconds,
        "train_s_per_epoch": train_seconds / max(fit.epochs, 1),
    }
    if cls.likelihood is not Likelihood.NONE:
        t0 = time.perf_counter()
        images = test.images[: budget.test_images]
        row["test_images"] = len(images)
        row["test_bpd"] = float(score_images(model, images, "bpd", 256).mean())
        row["score_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    samples = model.sample(64, generator=torch.Generator().manual_seed(budget.seed))
    row["sample_s_per_64"] = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        row["file_bytes"] = save_model(model, Path(tmp) / "m.pt").stat().st_size
    log_figure(image_grid(samples.cpu().numpy(), title=f"{name} samples"), f"samples_{name}")
    return row


def measure_zoo(budget: ZooBudget, out_dir: Path, command: str) -> pd.DataFrame:
    """Measure the models (all registered ones unless ``budget.models``); save CSV and Markdown."""
    names = list(budget.models) or [m.name for m in list_models()]
    splits = ensure_splits(load_dataset(budget.dataset, budget.path), 0.1, 0.3, budget.seed)
    _, experiment_id = setup_experiment("zoo-benchmark")
    rows = []
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"zoo:{budget.dataset}"):
        mlflow.log_params({k: str(v) for k, v in budget.__dict__.items()})
        for name in names:
            print(f"measuring {name} ...", flush=True)
            rows.append(measure_model(name, budget, splits))
            frame = pd.DataFrame(rows)
            # save as we go: a long sweep that stops half-way still leaves its finished rows
            out_dir.mkdir(parents=True, exist_ok=True)
            frame.to_csv(out_dir / f"zoo-{budget.dataset}.csv", index=False)
        text = f"Command: `{command}`\n\n" + frame.to_markdown(index=False, floatfmt=".3f") + "\n"
        (out_dir / f"zoo-{budget.dataset}.md").write_text(text)
        log_table(frame, f"zoo-{budget.dataset}")
    return frame

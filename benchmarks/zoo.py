"""Measure every model of the zoo on one data set, side by side, and log it to MLflow.

    .venv/bin/python -m benchmarks.zoo [--data usps] [--path ../shared/data/digits/usps.npz]
        [--epochs 3] [--model NAME ...] [--out benchmarks/results] [--test-limit N]

Columns: family, likelihood kind, capabilities, parameters, training seconds per epoch, test
bits/dim (where there is a likelihood; a bound for BOUND models), seconds per 64 samples, model
file bytes. Every model gets the same budget (epochs, batch size, seed) and a sample grid in MLflow.
"""

from __future__ import annotations

import argparse
import sys
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
from pipelines.cli import quiet_libraries
from pipelines.tracking.artifacts import log_bytes, log_table
from pipelines.tracking.store import setup_experiment
from tasks.anomaly.scores import score_images
from tasks.plots import image_grid
from tasks.result import png_bytes


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
    grid = image_grid(samples.cpu().numpy(), title=f"{name} samples")
    log_bytes(png_bytes(grid), f"plots/samples_{name}.png")
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="usps", help="data set to measure on (default usps)")
    parser.add_argument("--path", default="../shared/data/digits/usps.npz", help="its file")
    parser.add_argument("--epochs", type=int, default=3, help="training epochs per model")
    parser.add_argument("--model", action="append", help="measure only this model (repeatable)")
    parser.add_argument("--out", default="benchmarks/results", help="folder for CSV and Markdown")
    parser.add_argument("--test-limit", type=int, default=None, help="score the first N tests")
    args = parser.parse_args(argv)
    quiet_libraries()
    budget = ZooBudget(
        dataset=args.data,
        path=args.path or None,  # an empty --path for embedded data sets
        epochs=args.epochs,
        models=tuple(args.model or ()),
        test_images=args.test_limit,
    )
    command = "python -m benchmarks.zoo " + " ".join(sys.argv[1:] if argv is None else argv)
    frame = measure_zoo(budget, Path(args.out), command)
    print(frame.to_string(index=False, float_format="{:.3f}".format))
    print(
        f"saved: {args.out}/zoo-{args.data}.csv and .md (and the MLflow experiment zoo-benchmark)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

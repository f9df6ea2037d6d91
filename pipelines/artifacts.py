"""Helpers that log figures and tables to the active MLflow run."""

from __future__ import annotations

import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

import mlflow


def log_figure(fig: Figure, name: str) -> None:
    """Log a figure as PNG under ``plots/`` and close it."""
    try:
        mlflow.log_figure(fig, f"plots/{name}.png")
    finally:
        plt.close(fig)


def log_table(frame: pd.DataFrame, name: str) -> None:
    """Log a DataFrame as CSV under ``tables/``."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{name}.csv"
        frame.to_csv(path, index=False)
        mlflow.log_artifact(str(path), artifact_path="tables")

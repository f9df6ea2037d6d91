"""Helpers that log tables and files to the active MLflow run."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd

import mlflow


def log_table(frame: pd.DataFrame, name: str) -> None:
    """Log a DataFrame as CSV under ``tables/``."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{name}.csv"
        frame.to_csv(path, index=False)
        mlflow.log_artifact(str(path), artifact_path="tables")


def log_bytes(content: bytes, artifact_path: str) -> None:
    """Log ``content`` as the file ``artifact_path`` (e.g. ``plots/roc.png``) of the run."""
    target = Path(artifact_path)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / target.name
        path.write_bytes(content)
        folder = str(target.parent) if str(target.parent) != "." else None
        mlflow.log_artifact(str(path), artifact_path=folder)

"""MLflow wiring: where the store is, experiments with explicit artifact roots, run tags."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from urllib.parse import unquote, urlparse

from mlflow.tracking import MlflowClient

import mlflow

STORE_DIR = Path("mlflow")


def tracking_uri() -> str:
    """``MLFLOW_TRACKING_URI`` if set, else SQLite at ``./mlflow/mlflow.db``."""
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        return uri
    STORE_DIR.mkdir(exist_ok=True)
    return f"sqlite:///{(STORE_DIR / 'mlflow.db').resolve()}"


def artifact_root(uri: str) -> str | None:
    """Artifact location for new experiments.

    ``PRIORWORKS_ARTIFACT_ROOT`` if set; for a SQLite store, ``artifacts/`` beside the database
    (MLflow would otherwise write to ``./mlruns``); for a tracking server, the server decides.
    """
    explicit = os.environ.get("PRIORWORKS_ARTIFACT_ROOT")
    if explicit:
        return explicit
    if uri.startswith("sqlite:///"):
        db = Path(unquote(urlparse(uri).path))
        # sqlite:////abs/path parses to //abs/path; normalize.
        root = (Path("/" + str(db).lstrip("/")).parent / "artifacts").resolve()
        root.mkdir(parents=True, exist_ok=True)
        return root.as_uri()
    return None


def setup_experiment(name: str) -> tuple[str, str]:
    """Point MLflow at the store and return ``(tracking_uri, experiment_id)``."""
    uri = tracking_uri()
    mlflow.set_tracking_uri(uri)
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name(name)
    if experiment is not None and experiment.lifecycle_stage == "deleted":
        client.restore_experiment(experiment.experiment_id)
    if experiment is None:
        experiment_id = client.create_experiment(name, artifact_location=artifact_root(uri))
    else:
        experiment_id = experiment.experiment_id
    # Nested runs are created in the active experiment: make it this one.
    mlflow.set_experiment(experiment_id=experiment_id)
    return uri, experiment_id


def git_commit() -> str:
    """The repository's HEAD commit, or ``unknown`` outside a git checkout."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=True
        )
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"

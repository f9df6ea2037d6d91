"""Checkpoints left by trainings that did not finish: what they are, and removing the stale ones.

A training keeps its checkpoints under ``mlflow/checkpoints/<train_key>/`` until it finishes, so
that the next run of the same spec resumes it after a crash or a kill. A training nobody reruns
leaves them behind. They are listed with the status of the newest training run of their key,
and pruned when that run is no longer RUNNING and the folder was not touched for a while: a
KILLED or FAILED run's checkpoint is exactly what a rerun resumes from, so it is kept until it
is old (``older_than_days``), not dropped when the run is marked.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from mlflow.tracking import MlflowClient

from pipelines.tracking.store import STORE_DIR


@dataclass(frozen=True)
class CheckpointFolder:
    key: str  # the training's key (tag train_key of its runs)
    path: Path
    size_bytes: int
    age_days: float  # since the newest file in it was written
    status: str  # of the newest training run with this key; "unknown" where there is none

    @property
    def running(self) -> bool:
        return self.status == "RUNNING"


def _newest_status(client: MlflowClient, experiment_ids: list[str], key: str) -> str:
    runs = client.search_runs(
        experiment_ids,
        filter_string=f"tags.train_key = '{key}'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    return runs[0].info.status if runs else "unknown"


def checkpoint_folders(uri: str, root: Path | None = None) -> list[CheckpointFolder]:
    """Every checkpoint folder under ``root`` (default ``mlflow/checkpoints``), oldest first."""
    root = STORE_DIR / "checkpoints" if root is None else root
    if not root.is_dir():
        return []
    client = MlflowClient(uri)
    experiment_ids = [e.experiment_id for e in client.search_experiments()]
    now = time.time()
    folders = []
    for path in sorted(p for p in root.iterdir() if p.is_dir()):
        files = [f for f in path.rglob("*") if f.is_file()]
        newest = max((f.stat().st_mtime for f in files), default=path.stat().st_mtime)
        folders.append(
            CheckpointFolder(
                key=path.name,
                path=path,
                size_bytes=sum(f.stat().st_size for f in files),
                age_days=(now - newest) / 86400,
                status=_newest_status(client, experiment_ids, path.name)
                if experiment_ids
                else "unknown",
            )
        )
    return sorted(folders, key=lambda f: -f.age_days)


def prune(folders: list[CheckpointFolder], older_than_days: float) -> list[CheckpointFolder]:
    """Remove the folders whose training is not RUNNING and that are older than
    ``older_than_days``; returns those removed."""
    removed = [f for f in folders if not f.running and f.age_days >= older_than_days]
    for folder in removed:
        shutil.rmtree(folder.path, ignore_errors=True)
    return removed

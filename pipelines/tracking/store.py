"""MLflow wiring: where the store is, experiments with explicit artifact roots, run tags."""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

import mlflow
from pipelines.errors import StoreError

if TYPE_CHECKING:
    from genmodels.contract import GenerativeModel
    from pipelines.spec.pipeline import PipelineSpec

STORE_DIR = Path("mlflow")
_EXTRA_TAGS: ContextVar[dict[str, str] | None] = ContextVar("priorworks_extra_tags", default=None)


def sqlite_file(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI (SQLAlchemy's reading: ``sqlite:///rel.db``
    is relative to the working folder, ``sqlite:////abs/x.db`` absolute); None for other URIs."""
    if not uri.startswith("sqlite:///"):
        return None
    return Path(unquote(uri.removeprefix("sqlite:///").split("?", 1)[0])).absolute()


def tracking_uri(existing: bool = False) -> str:
    """``MLFLOW_TRACKING_URI`` if set, else SQLite at ``./mlflow/mlflow.db``.

    With ``existing`` (commands that only read: ``score``, ``compare``) a missing SQLite file is
    an error instead of a new empty store in the working directory.
    """
    uri = os.environ.get("MLFLOW_TRACKING_URI") or (
        f"sqlite:///{(STORE_DIR / 'mlflow.db').resolve()}"
    )
    db = sqlite_file(uri)
    if db is not None:
        if existing and not db.is_file():
            raise StoreError(
                f"no MLflow store at {db}: run a pipeline first, run the command from the "
                "folder whose mlflow/ holds the store, or point MLFLOW_TRACKING_URI at it"
            )
        db.parent.mkdir(parents=True, exist_ok=True)
    return uri


def artifact_root(uri: str) -> str | None:
    """Artifact location for new experiments.

    ``PRIORWORKS_ARTIFACT_ROOT`` if set; for a SQLite store, ``artifacts/`` beside the database
    (MLflow would otherwise write to ``./mlruns``); for a tracking server, the server decides.
    """
    explicit = os.environ.get("PRIORWORKS_ARTIFACT_ROOT")
    if explicit:
        return explicit
    db = sqlite_file(uri)
    if db is not None:
        root = (db.parent / "artifacts").resolve()
        root.mkdir(parents=True, exist_ok=True)
        return root.as_uri()
    return None


def use_store(existing: bool = False) -> str:
    """Point MLflow's runs *and* model registry at the project's store (whatever the process
    had set before: models register and ``models:/`` names resolve beside the runs); its URI.
    ``existing``: see :func:`tracking_uri`."""
    uri = tracking_uri(existing)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return uri


def setup_experiment(name: str) -> tuple[str, str]:
    """Point MLflow at the store (:func:`use_store`) and return ``(tracking_uri,
    experiment_id)``."""
    uri = use_store()
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name(name)
    if experiment is not None and experiment.lifecycle_stage == "deleted":
        client.restore_experiment(experiment.experiment_id)
    if experiment is None:
        try:
            experiment_id = client.create_experiment(name, artifact_location=artifact_root(uri))
        except MlflowException:
            # another process created it between our lookup and create: use theirs
            raced = client.get_experiment_by_name(name)
            if raced is None:
                raise
            experiment_id = raced.experiment_id
    else:
        experiment_id = experiment.experiment_id
    # Nested runs are created in the active experiment: make it this one.
    mlflow.set_experiment(experiment_id=experiment_id)
    mark_dead_runs(client, experiment_id)
    return uri, experiment_id


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def mark_dead_runs(client: MlflowClient, experiment_id: str) -> list[str]:
    """Mark KILLED the RUNNING runs of this experiment started on this host by a process that no
    longer exists (a crash or SIGKILL leaves them RUNNING); return their ids."""
    host = socket.gethostname()
    dead = []
    for run in client.search_runs([experiment_id], "attributes.status = 'RUNNING'"):
        tags = run.data.tags
        pid = int(tags["pid"]) if tags.get("pid", "").isdigit() else None
        if tags.get("host") == host and pid is not None and pid != os.getpid() and not _alive(pid):
            client.set_terminated(run.info.run_id, "KILLED")
            dead.append(run.info.run_id)
    return dead


def git_commit() -> str:
    """The repository's HEAD commit, or ``unknown`` outside a git checkout."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=True
        )
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


@contextmanager
def extra_tags(tags: dict[str, str]) -> Iterator[None]:
    """Within the block, every pipeline run also gets ``tags`` (e.g. a schedule's slot key)."""
    token = _EXTRA_TAGS.set({**(_EXTRA_TAGS.get() or {}), **tags})
    try:
        yield
    finally:
        _EXTRA_TAGS.reset(token)


def pipeline_tags(
    task: str, spec: PipelineSpec, model_cls: type[GenerativeModel]
) -> dict[str, str]:
    """The tags that make runs comparable in the MLflow UI: task, spec, model, likelihood kind,
    dataset, spec hash, git commit (plus any :func:`extra_tags` in force)."""
    return {
        "task": task,
        "spec": spec.name,
        "model": model_cls.name,
        "likelihood": model_cls.likelihood.value,
        "dataset": spec.data.name,
        "config_hash": spec.config_hash(),
        "git_commit": git_commit(),
        "host": socket.gethostname(),
        "pid": str(os.getpid()),
        **(_EXTRA_TAGS.get() or {}),
    }

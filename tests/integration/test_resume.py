"""Faults: a training killed with SIGKILL resumes from its checkpoint on the next run and ends
where an uninterrupted run ends; the killed run is marked KILLED, not left RUNNING or FINISHED."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from cli_process import start_priorworks
from mlflow.tracking import MlflowClient

COMMON = [
    "--preset", "tiny", "--set", "train.max_epochs=6", "--set", "train.patience=0",
    "--set", "output.experiment=it-resume",
]  # fmt: skip
TASKS = {  # a task's command line, and the metrics a resumed run must reproduce
    "colorize": (
        ["run", "colorize", *COMMON, "--set", "task.arms=[model]"],
        ("psnr.model", "prior_bpd.model", "prior_bpd.truth"),
    ),
    "anomaly": (
        ["run", "anomaly-detect", *COMMON, "--set", "output.registered_model=null"],
        ("selected.auroc", "selected.val_auroc", "selected.synthetic_auroc"),
    ),
}


def _start(cwd: Path, args: list[str]) -> subprocess.Popen:
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{cwd / 'mlflow.db'}"}
    env.pop("PRIORWORKS_ARTIFACT_ROOT", None)
    return start_priorworks(args, env, cwd)


def _runs(cwd: Path):
    client = MlflowClient(f"sqlite:///{cwd / 'mlflow.db'}")
    exp = client.get_experiment_by_name("it-resume")
    return client.search_runs([exp.experiment_id], order_by=["attributes.start_time ASC"])


def _parents(cwd: Path):
    return [r for r in _runs(cwd) if "mlflow.parentRunId" not in r.data.tags]


@pytest.mark.parametrize(
    "task",
    ["colorize", pytest.param("anomaly", marks=pytest.mark.slow)],  # anomaly: test-slow
)
def test_killed_training_resumes_and_matches_an_uninterrupted_run(task, tmp_path, new_store):
    args, metrics = TASKS[task]
    killed, clean = tmp_path / "killed", tmp_path / "clean"
    new_store(killed / "mlflow.db"), new_store(clean / "mlflow.db")
    proc = _start(killed, args)
    checkpoints = killed / "mlflow" / "checkpoints"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:  # wait until two epochs are checkpointed
        found = list(checkpoints.glob("*/epoch=1*.ckpt")) + list(
            checkpoints.glob("*/epoch=2*.ckpt")
        )
        if found or proc.poll() is not None:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "training ended before it could be killed:\n" + proc.stdout.read()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    assert list(checkpoints.glob("*/last.ckpt")), "no checkpoint survived the kill"
    (first,) = _parents(killed)
    assert first.info.status == "RUNNING"  # nobody could mark it: the process is gone

    again = _start(killed, args)
    out, _ = again.communicate(timeout=600)
    assert again.returncode == 0, out
    assert "resuming realnvp (model) from the checkpoint of an interrupted run" in out
    statuses = {r.info.run_id: r.info.status for r in _runs(killed)}
    assert statuses[first.info.run_id] == "KILLED"
    assert "RUNNING" not in statuses.values()
    assert not list(checkpoints.glob("*/*.ckpt"))  # finished: checkpoints cleaned up

    uninterrupted = _start(clean, args)
    out, _ = uninterrupted.communicate(timeout=600)
    assert uninterrupted.returncode == 0, out
    resumed, reference = _parents(killed)[-1], _parents(clean)[0]
    for key in metrics:
        assert resumed.data.metrics[key] == pytest.approx(reference.data.metrics[key], rel=1e-4)

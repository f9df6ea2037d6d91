"""Checkpoints of unfinished trainings: listed with their run's status, pruned when stale."""

from __future__ import annotations

import os
import time
from pathlib import Path

from mlflow.tracking import MlflowClient

from pipelines.cli import main


def _folder(root: Path, key: str, days_old: float) -> Path:
    path = root / key
    path.mkdir(parents=True)
    ckpt = path / "last.ckpt"
    ckpt.write_bytes(b"x" * 2048)
    stamp = time.time() - days_old * 86400
    os.utime(ckpt, (stamp, stamp))
    return path


def test_stale_checkpoints_of_stopped_trainings_are_pruned_and_the_rest_kept(
    mlflow_store, tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    client = MlflowClient(mlflow_store)
    experiment = client.create_experiment("x", artifact_location=str(tmp_path / "artifacts"))
    for key, status in [("running", None), ("killed-old", "KILLED"), ("failed-new", "FAILED")]:
        run = client.create_run(experiment, tags={"train_key": key})
        if status:
            client.set_terminated(run.info.run_id, status)
    root = tmp_path / "mlflow" / "checkpoints"
    running = _folder(root, "running", days_old=30)  # a long training still going: kept
    killed = _folder(root, "killed-old", days_old=30)
    failed = _folder(root, "failed-new", days_old=1)  # a rerun would resume from it: kept
    orphan = _folder(root, "no-run-at-all", days_old=10)

    assert main(["checkpoints"]) == 0
    listing = capsys.readouterr().out
    assert "killed-old" in listing and "newest run KILLED" in listing
    assert "newest run RUNNING" in listing and "newest run unknown" in listing
    assert all(p.exists() for p in (running, killed, failed, orphan))  # listing removes nothing

    assert main(["checkpoints", "--prune", "--older-than", "7"]) == 0
    assert "removed 2 folder(s)" in capsys.readouterr().out
    assert running.exists() and failed.exists()
    assert not killed.exists() and not orphan.exists()

    assert main(["checkpoints", "--prune", "--older-than", "-1"]) == 2
    assert "--older-than -1.0: a number of days must be >= 0" in capsys.readouterr().err

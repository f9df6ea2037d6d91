"""Bad input and faults through the anomaly CLI: exit 2 with a message that names the problem,
the run marked FAILED, nothing recorded as finished; and the console script itself."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from anomaly_cli import cli_args, runs_of

from pipelines.cli import main


def test_missing_data_file_exits_2_and_marks_run_failed(mlflow_store, tmp_path, capsys):
    code = main(cli_args("data.name=usps", f"data.path={tmp_path / 'missing.npz'}"))
    assert code == 2
    assert "missing.npz: file not found" in capsys.readouterr().err
    _, runs = runs_of(mlflow_store)
    assert runs and all(r.info.status == "FAILED" for r in runs)


@pytest.mark.parametrize("where", ["file", "database"])
def test_a_full_disk_exits_2_naming_the_place_and_marks_the_run_failed(
    where, mlflow_store, tmp_path, monkeypatch, capsys
):
    """ENOSPC from a file write, or SQLite's 'database or disk is full' through MLflow: a message
    that names where and how much is free, exit 2, the run FAILED (injected: no disk is filled)."""
    import errno

    from mlflow.exceptions import MlflowException

    import pipelines.runner

    target = tmp_path / "artifacts" / "model.pt"

    def full(*_: object, **__: object) -> None:
        if where == "file":
            raise OSError(errno.ENOSPC, "No space left on device", str(target))
        try:
            raise RuntimeError("(sqlite3.OperationalError) database or disk is full")
        except RuntimeError as cause:
            raise MlflowException("failed to log metric") from cause

    monkeypatch.setattr(pipelines.runner, "load_splits", full)
    assert main(cli_args()) == 2
    err = capsys.readouterr().err
    place = target if where == "file" else tmp_path  # the store's folder
    assert f"no space left on the device holding {place} (" in err and " MB free)" in err
    assert "Traceback" not in err
    _, runs = runs_of(mlflow_store)
    assert runs and all(r.info.status == "FAILED" for r in runs)


def test_other_errors_still_surface_as_they_are(mlflow_store, monkeypatch):
    import pipelines.runner

    def broken(*_: object, **__: object) -> None:
        raise OSError(5, "Input/output error")  # not a full disk: a bug or a failing drive

    monkeypatch.setattr(pipelines.runner, "load_splits", broken)
    with pytest.raises(OSError, match="Input/output error"):
        main(cli_args())


def test_parameters_that_do_not_fit_the_images_exit_2_and_mark_run_failed(mlflow_store, capsys):
    # 8x8 digits cannot be halved four times: the constructor refuses, the CLI names it
    assert main(cli_args("model.params.num_scales=5")) == 2
    err = capsys.readouterr().err
    assert "model 'realnvp' refused its parameters" in err and "num_scales" in err
    _, runs = runs_of(mlflow_store)
    assert runs and all(r.info.status == "FAILED" for r in runs)


def test_corrupt_image_folder_exits_2(mlflow_store, tmp_path, capsys):
    folder = tmp_path / "imgs" / "a"
    folder.mkdir(parents=True)
    (folder / "x.png").write_bytes(b"garbage")
    assert main(cli_args("data.name=folder", f"data.path={tmp_path / 'imgs'}")) == 2
    assert "x.png: corrupt or unreadable image" in capsys.readouterr().err
    _, runs = runs_of(mlflow_store)
    assert runs[0].info.status == "FAILED"


def test_nan_data_exits_2(mlflow_store, tmp_path, capsys):
    images = np.random.default_rng(0).random((20, 4, 4)).astype(np.float32)
    images[3, 0, 0] = np.inf
    np.savez(tmp_path / "d.npz", train_images=images, train_labels=np.arange(20) % 2)
    assert main(cli_args("data.name=npz", f"data.path={tmp_path / 'd.npz'}")) == 2
    assert "NaN or Inf" in capsys.readouterr().err


def test_spec_errors_exit_2_before_any_run(mlflow_store, capsys):
    assert main(cli_args("model.name=nosuch")) == 2
    err = capsys.readouterr().err
    assert "unknown model 'nosuch'; valid models: dcgan, " in err
    assert "realnvp" in err
    assert main(cli_args("train.epochs=3")) == 2
    assert "train.epochs: unknown key" in capsys.readouterr().err
    assert main(cli_args("data.name=mnist")) == 2
    assert "unknown dataset 'mnist'; valid datasets: cifar10, digits" in capsys.readouterr().err
    assert main(cli_args("task.name=paint")) == 2
    assert "unknown task 'paint'; valid tasks: anomaly" in capsys.readouterr().err
    _, runs = runs_of(mlflow_store)
    assert runs == []


def test_model_without_likelihood_is_refused_before_any_run(mlflow_store, capsys):
    assert main(cli_args("model.name=dcgan", "model.params={}")) == 2
    err = capsys.readouterr().err
    assert "task 'anomaly' cannot use model 'dcgan': it needs a likelihood" in err
    _, runs = runs_of(mlflow_store)
    assert runs == []


def test_console_script_help_and_models():
    exe = Path(sys.executable).parent / "priorworks"
    out = subprocess.run([str(exe), "models"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0
    lines = out.stdout.splitlines()
    row = next(line for line in lines if line.startswith("realnvp "))
    assert row.split()[1:3] == ["flow", "exact"]
    # columns line up: every row's family starts where the header's does
    col = lines[0].index("family")
    assert all(
        line[col:].split()[0] in {"flow", "gan", "diffusion", "classical", "autoregressive", "vae"}
        for line in lines[1:13]
    )
    assert "vae" in out.stdout and "bound" in out.stdout
    bad = subprocess.run(
        [str(exe), "run", "no-such-spec"], capture_output=True, text=True, timeout=120
    )
    assert bad.returncode == 2 and "not found" in bad.stderr
    assert torch.__version__.startswith("2.")

"""`make tracking-server`: MLflow on PostgreSQL in a folder of its own, six pipelines at once
against it, every run recorded once with its metrics, model and registry alias."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import pytest
from cli_process import start_priorworks
from mlflow.tracking import MlflowClient

from pipelines.ops.tracking_server import Server, answers_health, main, start, stop

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(tmp_path):
    if os.geteuid() == 0:  # PostgreSQL runs as `postgres`: it must reach the folder
        for folder in [tmp_path, *tmp_path.parents]:
            folder.chmod(folder.stat().st_mode | 0o001)
    root = tmp_path / "server"
    server = Server(root, _free_port(), _free_port())
    assert main(["start", "--root", str(root), "--port", str(server.port), "--pg-port",
                 str(server.pg_port)]) == 0  # fmt: skip
    yield server
    stop(server)


def test_six_pipelines_at_once_land_on_postgres_and_survive_a_restart(server, tmp_path):
    assert (server.root / "pgdata" / "PG_VERSION").is_file()  # its own cluster, in its folder
    env = {**os.environ, "MLFLOW_TRACKING_URI": server.url}
    env.pop("PRIORWORKS_ARTIFACT_ROOT", None)
    procs = [
        start_priorworks(
            [
                "run",
                "anomaly-detect",
                "--preset",
                "tiny",
                "--set",
                "output.experiment=it-postgres",
                "--set",
                f"seed={seed}",
                "--set",
                f"output.registered_model=pg-detector-{seed % 2}",
                "--set",
                "task.baselines=[]",
                "--set",
                "task.compressor_baselines=[]",
            ],
            env,
            tmp_path,
        )
        for seed in range(6)
    ]
    outputs = [p.communicate(timeout=900)[0] for p in procs]
    assert [p.returncode for p in procs] == [0] * 6, "\n".join(o[-2000:] for o in outputs)

    def check(client: MlflowClient) -> None:
        experiment = client.get_experiment_by_name("it-postgres")
        runs = client.search_runs([experiment.experiment_id], max_results=1000)
        parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
        # every pipeline recorded once, finished, with its metrics and its model
        assert sorted(r.data.params["seed"] for r in parents) == [str(s) for s in range(6)]
        assert all(r.info.status == "FINISHED" for r in runs)
        for run in parents:
            assert any(k.endswith("auroc") for k in run.data.metrics)
        models = client.search_logged_models(experiment_ids=[experiment.experiment_id])
        assert sorted(m.source_run_id for m in models) == sorted(r.info.run_id for r in parents)
        # three versions per registered name, no duplicates, the alias on one of them
        for name in ("pg-detector-0", "pg-detector-1"):
            versions = client.search_model_versions(f"name='{name}'")
            assert sorted(int(v.version) for v in versions) == [1, 2, 3]
            assert len({v.run_id for v in versions}) == 3
            champion = client.get_model_version_by_alias(name, "champion")
            assert champion.run_id in {r.info.run_id for r in parents}

    check(MlflowClient(server.url, registry_uri=server.url))  # not a registry left process-wide
    stop(server)
    assert not answers_health(server.url)  # both stopped
    assert start(server) == server.url  # restarted on the same cluster: nothing lost
    check(MlflowClient(server.url, registry_uri=server.url))  # not a registry left process-wide


def test_a_missing_postgres_is_named(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr("glob.glob", lambda pattern: [])
    assert main(["start", "--root", str(tmp_path / "s"), "--port", str(_free_port())]) == 2
    assert "PostgreSQL's 'initdb' was not found" in capsys.readouterr().err


def test_a_server_killed_mid_run_fails_the_pipeline_clearly_and_a_rerun_resumes(server, tmp_path):
    env = {**os.environ, "MLFLOW_TRACKING_URI": server.url}
    env.pop("PRIORWORKS_ARTIFACT_ROOT", None)
    command = [
        sys.executable, "-m", "pipelines.cli", "run", "anomaly-detect", "--preset", "tiny",
        "--set", "output.experiment=it-kill", "--set", "train.max_epochs=400",
        "--set", "train.patience=400", "--set", "task.baselines=[]",
    ]  # fmt: skip
    client = MlflowClient(server.url)
    quick = [*command, "--set", "seed=7", "--set", "train.max_epochs=5"]
    first = subprocess.run(quick, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert first.returncode == 0  # a finished pipeline before the fault
    before = {r.info.run_id: r.data.metrics for r in client.search_runs(
        [client.get_experiment_by_name("it-kill").experiment_id], max_results=1000)}  # fmt: skip
    proc = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    experiment = client.get_experiment_by_name("it-kill").experiment_id
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:  # wait until the flow is training and logging epochs
        training = [
            r for r in client.search_runs([experiment], "attributes.status = 'RUNNING'")
            if r.info.run_name.startswith("train:") and "val_bpd" in r.data.metrics
        ]  # fmt: skip
        if training:
            break
        time.sleep(1)
    assert training, "the training never started logging"
    os.killpg(int(server.pidfile.read_text()), signal.SIGTERM)  # the MLflow server dies
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 2
    assert f"the tracking server {server.url} does not answer" in err
    assert "Traceback" not in err
    assert start(server) == server.url  # PostgreSQL kept everything
    again = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "resuming realnvp (model) from the checkpoint of an interrupted run" in again.stdout
    runs = client.search_runs([experiment], max_results=1000)
    assert {r.info.run_id: r.data.metrics for r in runs if r.info.run_id in before} == before
    assert not [r.info.run_name for r in runs if r.info.status == "RUNNING"]
    assert sorted(r.data.params.get("seed") for r in runs if "mlflow.parentRunId" not in
                  r.data.tags and r.info.status == "FINISHED") == ["0", "7"]  # fmt: skip

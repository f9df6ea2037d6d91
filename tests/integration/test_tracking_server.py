"""Several pipelines at once against one MLflow tracking server (SQLite backend, started here on
127.0.0.1): every run is recorded, none lost."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from cli_process import start_priorworks
from mlflow.tracking import MlflowClient

pytestmark = pytest.mark.slow


@pytest.fixture
def server(tmp_path: Path, start_server):
    mlflow_exe = Path(sys.executable).parent / "mlflow"
    return start_server(
        lambda port: [
            str(mlflow_exe), "server", "--host", "127.0.0.1", "--port", str(port),
            "--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}",
            "--artifacts-destination", str(tmp_path / "artifacts"), "--workers", "2",
        ],
        "/health",
        None,
    )  # fmt: skip


def test_concurrent_pipelines_all_land_on_one_server(server, tmp_path):
    env = {**os.environ, "MLFLOW_TRACKING_URI": server}
    env.pop("PRIORWORKS_ARTIFACT_ROOT", None)
    procs = [
        start_priorworks(
            [
                "run",
                "transfer",
                "--preset",
                "tiny",
                "--set",
                "output.experiment=it-server",
                "--set",
                f"seed={seed}",
            ],
            env,
            tmp_path,
        )
        for seed in range(3)
    ]
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], "\n".join(outputs)
    client = MlflowClient(server)
    runs = client.search_runs([client.get_experiment_by_name("it-server").experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert sorted(r.data.params["seed"] for r in parents) == ["0", "1", "2"]
    assert all(r.info.status == "FINISHED" for r in runs) and len(runs) == 6  # + 3 train runs
    for r in parents:
        artifacts = {a.path for a in client.list_artifacts(r.info.run_id, "tables")}
        assert "tables/results.csv" in artifacts

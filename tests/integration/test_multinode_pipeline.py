"""A pipeline launched on two "nodes" (two processes, NODE_RANK 0 and 1, as a cluster sets it)
trains one model together and is recorded once, by rank 0, like a one-process run."""

from __future__ import annotations

import os
import re
import socket

import pytest
from anomaly_cli import runs_of
from cli_process import start_priorworks
from mlflow.tracking import MlflowClient

pytestmark = pytest.mark.slow

ARGS = ["run", "anomaly-detect", "--preset", "tiny", "--set", "task.baselines=[]",
        "--set", "task.compressor_baselines=[]", "--set", "output.registered_model=mn-detector",
        "--set", "output.experiment=it-anomaly"]  # fmt: skip
DDP = ["--set", "train.strategy=ddp", "--set", "train.num_nodes=2"]


def test_two_nodes_record_one_run_like_a_single_process_run(tmp_path):
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = str(s.getsockname()[1])
    base = {**os.environ, "MLFLOW_TRACKING_URI": store, "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": port}  # fmt: skip
    base.pop("PRIORWORKS_ARTIFACT_ROOT", None)
    nodes = [start_priorworks([*ARGS, *DDP], {**base, "NODE_RANK": str(rank)}) for rank in (0, 1)]
    logs = []
    for proc in nodes:
        out, _ = proc.communicate(timeout=600)
        assert proc.returncode == 0, out[-3000:]
        logs.append(out)
    leader, follower = logs
    assert "rank 0 of 2: records the runs" in leader
    assert "rank 1 of 2: done; rank 0 recorded the run" in follower
    # the same epochs and best validation score on both nodes: they trained one model
    trained = [re.findall(r"trained realnvp in [\d.]+ s \((.*?)\)", log) for log in logs]
    assert trained[0] and trained[0] == trained[1]
    _, runs = runs_of(store)
    assert {r.info.status for r in runs} == {"FINISHED"}
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert len(parents) == 1
    # the registry of this store, whatever registry an earlier test left process-wide
    registry = MlflowClient(store, registry_uri=store)
    versions = registry.search_model_versions("name='mn-detector'")
    assert [int(v.version) for v in versions] == [1]
    # a one-process run of the same spec records the same runs
    single = start_priorworks([*ARGS, "--set", "output.experiment=single"], base)
    out, _ = single.communicate(timeout=600)
    assert single.returncode == 0, out[-3000:]
    _, single_runs = runs_of(store, "single")
    assert sorted(r.info.run_name for r in single_runs) == sorted(r.info.run_name for r in runs)

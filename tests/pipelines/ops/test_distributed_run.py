"""Who records in a distributed pipeline run: rank 0 writes to the store, the others to a
private store that is gone when they end; settings that cannot launch are refused."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from genmodels.errors import DataError
from pipelines.errors import SpecError
from pipelines.ops.distributed_run import distributed_role, world_size
from pipelines.spec.loading import load_spec

DDP = ["train.strategy=ddp", "train.num_nodes=2"]


def test_a_single_process_spec_runs_as_it_is(monkeypatch):
    monkeypatch.setenv("NODE_RANK", "1")  # no effect unless the spec trains across processes
    spec = load_spec("anomaly-detect")
    with distributed_role(spec, log=lambda _: None) as role:
        assert role.leader and role.world == 1 and role.spec is spec


def test_rank_0_records_into_the_store_with_reuse_off(monkeypatch, mlflow_store):
    monkeypatch.setenv("NODE_RANK", "0")
    said: list[str] = []
    with distributed_role(load_spec("anomaly-detect", DDP), log=said.append) as role:
        assert role.leader and role.world == 2 and role.spec.reuse is False
        assert os.environ["MLFLOW_TRACKING_URI"] == mlflow_store
    assert said[-1] == "rank 0 of 2: records the runs"


def test_other_ranks_record_into_a_private_store_removed_at_the_end(monkeypatch, mlflow_store):
    monkeypatch.setenv("NODE_RANK", "1")
    monkeypatch.setenv("PRIORWORKS_ARTIFACT_ROOT", "file:///somewhere")
    with distributed_role(load_spec("anomaly-detect", DDP), log=lambda _: None) as role:
        assert role.rank == 1 and not role.leader
        private = os.environ["MLFLOW_TRACKING_URI"]
        assert private != mlflow_store and private.startswith("sqlite:///")
        folder = Path(private.removeprefix("sqlite:///")).parent
        assert folder.is_dir() and "priorworks-rank1-" in folder.name
    assert not folder.exists()
    assert os.environ["MLFLOW_TRACKING_URI"] == mlflow_store
    assert os.environ["PRIORWORKS_ARTIFACT_ROOT"] == "file:///somewhere"


def test_world_size_is_nodes_times_devices_under_ddp_only():
    assert world_size(load_spec("anomaly-detect", [*DDP, "train.devices=4"])) == 8
    assert (
        world_size(load_spec("anomaly-detect", ["train.strategy=ddp_spawn", "train.devices=2"]))
        == 1
    )


def test_a_rank_beyond_the_processes_and_nodes_without_ddp_are_refused(monkeypatch):
    monkeypatch.setenv("NODE_RANK", "2")
    role = distributed_role(load_spec("anomaly-detect", DDP), log=lambda _: None)
    with pytest.raises(DataError, match="rank 2, but train.num_nodes x train.devices is 2"), role:
        pass
    with pytest.raises(SpecError, match="train.num_nodes=2 needs train.strategy: ddp"):
        load_spec("anomaly-detect", ["train.num_nodes=2"])

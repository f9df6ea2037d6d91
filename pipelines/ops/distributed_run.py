"""One pipeline run across several processes or machines: rank 0 records, the others train.

In a data-parallel launch (``train.strategy: ddp`` with ``train.num_nodes * train.devices > 1``)
every process runs the same ``priorworks run`` command, so every process reaches every training
in the same order and joins it. Only the process of global rank 0 (the leader,
:func:`genmodels.distributed.global_rank`) writes to the tracking store; every other process (a
follower) points MLflow at a private SQLite store in a temporary folder, removed when it ends, so
runs, models and registry aliases are recorded once. Reuse of a finished training is off on
every process (a follower cannot see the leader's store, and a process that skipped a training
would leave the others waiting in it).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from genmodels.distributed import global_rank
from genmodels.errors import DataError
from pipelines.spec.pipeline import PipelineSpec

_STORE_VARIABLES = ("MLFLOW_TRACKING_URI", "PRIORWORKS_ARTIFACT_ROOT")


@dataclass(frozen=True)
class Role:
    """This process's part in the run: its rank, the number of processes, and the spec to run."""

    rank: int
    world: int
    spec: PipelineSpec

    @property
    def leader(self) -> bool:
        return self.rank == 0


def world_size(spec: PipelineSpec) -> int:
    """How many processes train together under ``spec`` (1 unless ``strategy: ddp``)."""
    train = spec.train
    return train.num_nodes * train.devices if train.strategy == "ddp" else 1


@contextmanager
def distributed_role(spec: PipelineSpec, log: Callable[[str], None] = print) -> Iterator[Role]:
    """This process's :class:`Role`; a follower records into a private store until the block
    ends (the environment is restored afterwards)."""
    world = world_size(spec)
    if world == 1:
        yield Role(0, 1, spec)
        return
    try:
        rank = global_rank(os.environ, spec.train.devices)
    except ValueError as err:
        raise DataError(str(err)) from None
    if rank >= world:
        raise DataError(
            f"this process has rank {rank}, but train.num_nodes x train.devices is {world}: "
            "set NODE_RANK (or RANK) below the number of processes"
        )
    if spec.reuse:
        spec = spec.model_copy(update={"reuse": False})
        log(f"distributed training over {world} processes: every training runs (no reuse)")
    if rank == 0:
        log(f"rank 0 of {world}: records the runs")
        yield Role(0, world, spec)
        return
    log(f"rank {rank} of {world}: trains with rank 0 and records nothing (rank 0 records)")
    saved = {name: os.environ.get(name) for name in _STORE_VARIABLES}
    with tempfile.TemporaryDirectory(prefix=f"priorworks-rank{rank}-") as tmp:
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{Path(tmp) / 'follower.db'}"
        os.environ["PRIORWORKS_ARTIFACT_ROOT"] = (Path(tmp) / "artifacts").as_uri()
        try:
            yield Role(rank, world, spec)
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value

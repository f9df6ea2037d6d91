"""Which process of a data-parallel training this is, from the variables a launcher sets.

A multi-node launch starts the same command on every node: a cluster scheduler or ``torchrun``
sets ``RANK`` / ``WORLD_SIZE``, SLURM sets ``SLURM_PROCID``, and Lightning's own launcher reads
``NODE_RANK`` (with ``MASTER_ADDR`` and ``MASTER_PORT``) and sets ``LOCAL_RANK`` for the extra
processes it starts on a node. The process of global rank 0 is the one that records results;
it is the one where every one of these is 0 or unset.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

import torch

T = TypeVar("T")

RANK_VARIABLES = ("RANK", "SLURM_PROCID", "NODE_RANK", "LOCAL_RANK", "JSM_NAMESPACE_RANK")


def global_rank(env: Mapping[str, str], devices_per_node: int = 1) -> int:
    """This process's rank among all processes of the training (0 when not launched as one).

    ``RANK`` (torchrun, most schedulers) wins, then ``SLURM_PROCID``; otherwise Lightning's
    ``NODE_RANK * devices_per_node + LOCAL_RANK``. A value that is not a whole number >= 0 is
    an error naming the variable.
    """
    values = {name: _rank_value(env, name) for name in RANK_VARIABLES}
    for name in ("RANK", "SLURM_PROCID", "JSM_NAMESPACE_RANK"):
        rank = values[name]
        if rank is not None:
            return rank
    return (values["NODE_RANK"] or 0) * devices_per_node + (values["LOCAL_RANK"] or 0)


def _rank_value(env: Mapping[str, str], name: str) -> int | None:
    raw = env.get(name, "").strip()
    if not raw:
        return None
    if not raw.isdigit():
        raise ValueError(f"{name}={raw!r}: a process rank must be a whole number >= 0")
    return int(raw)


def broadcast_from_leader(obj: T) -> T:
    """``obj`` of rank 0 on every process of an initialized process group; ``obj`` itself when
    there is none (one process)."""
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return obj
    if torch.distributed.get_world_size() == 1:
        return obj
    box = [obj]
    torch.distributed.broadcast_object_list(box, src=0)
    return box[0]

"""Share the cores between priorworks jobs: each busy job uses its fair part of them, re-checked
as jobs come and go.

Torch gives every process one OpenMP thread per core; two jobs on two cores then run four
threads that wait on each other (a training step 3.1-3.7x slower next to one other job even
with short spinning, against 1.4-1.8x with one thread each: ``benchmarks/NOTES.md``, section
9). A process that calls :func:`join` is listed in a folder of jobs (one file per process,
removed at exit). :func:`share`, called from the training loop (``genmodels.training.ShareCores``)
and from scoring, refreshes this job's file (a heartbeat) and, at most once a second, sets
torch's threads to ``cores // busy jobs`` (at least 1). A job is busy while its heartbeat is
younger than :data:`BUSY_S` and its process alive: an idle scheduler, or a process waiting on
another, stops counting after a few seconds, and a job that ran alone gives up threads when
another starts and takes them back when it ends. This module imports no torch until
:func:`share` runs, so listing a job costs a command nothing.

A user who sets ``OMP_NUM_THREADS`` keeps it: nothing is changed then.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

JOBS = Path(tempfile.gettempdir()) / f"priorworks-jobs-{os.getuid()}"
BUSY_S = 5.0  # a heartbeat older than this: the job is idle (or gone)
EVERY_S = 1.0  # how often share() recounts

_joined: Path | None = None
_last_check = float("-inf")


def cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def join(environ: Mapping[str, str] = os.environ, folder: Path = JOBS) -> bool:
    """List this process as a job, unless ``OMP_NUM_THREADS`` is set; whether it was."""
    global _joined, _last_check
    if "OMP_NUM_THREADS" in environ:
        return False
    folder.mkdir(parents=True, exist_ok=True)
    if _joined is None:
        atexit.register(leave)
    else:
        _joined.unlink(missing_ok=True)
    _joined, _last_check = folder / str(os.getpid()), float("-inf")
    _joined.touch()
    return True


def leave() -> None:
    global _joined
    if _joined is not None:
        _joined.unlink(missing_ok=True)
        _joined = None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def busy_jobs(folder: Path = JOBS, now: float | None = None) -> int:
    """Jobs in ``folder`` with a recent heartbeat and a live process (files of dead processes
    and stray names are removed)."""
    now = time.time() if now is None else now
    count = 0
    for entry in folder.glob("*") if folder.is_dir() else []:
        if not (entry.name.isdigit() and _alive(int(entry.name))):
            entry.unlink(missing_ok=True)
            continue
        with contextlib.suppress(FileNotFoundError):  # left while we looked
            count += now - entry.stat().st_mtime < BUSY_S
    return count


def share(force: bool = False) -> int:
    """Beat this job's heartbeat and, at most every :data:`EVERY_S` (or when ``force``), set
    torch's intra-op threads to its fair part of the cores; return the thread count. Call it
    from the thread that runs the work (an OpenMP thread count belongs to the calling thread).
    A process that has not joined keeps its threads."""
    global _last_check
    import torch

    if _joined is None:
        return torch.get_num_threads()
    now = time.monotonic()
    if not force and now - _last_check < EVERY_S:
        return torch.get_num_threads()
    _last_check = now
    _joined.touch()
    fair = max(1, cores() // max(1, busy_jobs(_joined.parent)))
    if torch.get_num_threads() != fair:
        torch.set_num_threads(fair)
    return fair

"""What every speed benchmark shares: the data, a step timer, and saving/logging tables."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytorch_lightning as pl
import torch

from genmodels.data import ensure_splits, load_dataset
from genmodels.data.imageset import ImageSet

RESULTS = Path(__file__).resolve().parents[1] / "results"
USPS = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "digits" / "usps.npz"


ROOT = Path(__file__).resolve().parents[2]


def cli_wall(args: list[str]) -> float:
    """Seconds from start to exit of ``priorworks <args>`` in a fresh process (this interpreter,
    run from the repository root); a RuntimeError with its stderr if it fails."""
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", *args], cwd=ROOT, capture_output=True, text=True
    )
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"priorworks {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return wall


def bench_images() -> tuple[str, ImageSet]:
    """USPS training images (1x16x16) from ../shared/data, or the embedded digits without it."""
    if USPS.is_file():
        return "usps", ensure_splits(load_dataset("usps", USPS), 0.1, 0.2, seed=0)["train"]
    return "digits", ensure_splits(load_dataset("digits"), 0.1, 0.2, seed=0)["train"]


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mib() -> float:
    """Resident memory of this process now (Linux ``/proc/self/statm``)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


class RSSPeak:
    """The peak resident memory while the ``with`` block runs, sampled every ``interval`` s
    in a thread (the process-wide high-water mark cannot isolate one call)."""

    def __init__(self, interval: float = 0.005) -> None:
        self.interval, self.peak, self._stop = interval, 0.0, threading.Event()

    def _watch(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_mib())
            time.sleep(self.interval)

    def __enter__(self) -> RSSPeak:
        self.peak = rss_mib()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_mib())


class StepTimer(pl.Callback):
    """Time stamps at the start and end of every training batch.

    ``step_s`` is the mean interval between consecutive batch starts after ``warmup`` batches:
    everything the loop does per step (fetching the batch, forward, backward, optimizer, hooks,
    logging). ``wait_share`` is the part of that interval spent between the end of one batch
    and the start of the next (fetching data plus the loop's own bookkeeping): an upper bound on
    the time training waits for data.
    """

    def __init__(self, warmup: int = 3) -> None:
        self.warmup = warmup
        self.starts: list[float] = []
        self.ends: list[float] = []

    def on_train_batch_start(self, *args: Any) -> None:
        self.starts.append(time.perf_counter())

    def on_train_batch_end(self, *args: Any) -> None:
        self.ends.append(time.perf_counter())

    @property
    def step_s(self) -> float:
        s = self.starts[self.warmup :]
        return (s[-1] - s[0]) / (len(s) - 1)

    @property
    def wait_share(self) -> float:
        starts, ends = self.starts[self.warmup :], self.ends[self.warmup :]
        waits = [b - a for a, b in zip(ends[:-1], starts[1:], strict=False)]
        return sum(waits) / (starts[-1] - starts[0])


def save_table(frame: pd.DataFrame, name: str, command: str, notes: str = "") -> str:
    """Write ``results/<name>.csv`` and ``.md`` (with the command and machine); return the text."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    frame.to_csv(RESULTS / f"{name}.csv", index=False)
    facts = ", ".join(f"{k} {v}" for k, v in machine().items())
    text = (
        f"Command: `{command}` ({facts})\n\n"
        + frame.to_markdown(index=False, floatfmt=".3g")
        + "\n"
        + (f"\n{notes}\n" if notes else "")
    )
    (RESULTS / f"{name}.md").write_text(text)
    return text


def log_tables(tables: dict[str, pd.DataFrame], command: str) -> None:
    """Log every table to one MLflow run in the experiment ``bench``."""
    import mlflow
    from pipelines.tracking.artifacts import log_table
    from pipelines.tracking.store import setup_experiment

    _, experiment_id = setup_experiment("bench")
    with mlflow.start_run(experiment_id=experiment_id, run_name="bench"):
        mlflow.log_param("command", command[:500])
        mlflow.log_params({k: str(v) for k, v in machine().items()})
        for name, frame in tables.items():
            log_table(frame, name)

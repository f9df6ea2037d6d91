"""End to end: wall time of each ``make <task>`` with its default spec, and of ``make test``.

Each target runs as users run it (``make <target>``, after install: the virtual environment
exists), with ``ARGS=--retrain`` so no earlier training is reused, and against a throw-away
MLflow store (``MLFLOW_TRACKING_URI``) so the user's store gets no benchmark runs.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
TARGETS = {  # target -> wall-time target in seconds
    "anomaly-detect": 60,
    "augment": 300,
    "colorize": 300,
    "transfer": 300,
    "share": 300,
    "test": 600,
}


def run_target(target: str, store: Path) -> tuple[float, int]:
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{store / 'mlflow.db'}"}
    args = [] if target == "test" else ["ARGS=--retrain"]
    start = time.perf_counter()
    done = subprocess.run(
        ["make", "--no-print-directory", target, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    return time.perf_counter() - start, done.returncode


def measure_end_to_end(targets: tuple[str, ...] = tuple(TARGETS), log: Any = print) -> pd.DataFrame:
    rows = []
    with tempfile.TemporaryDirectory(prefix="priorworks-bench-store-") as tmp:
        for target in targets:
            seconds, code = run_target(target, Path(tmp))
            row = {
                "command": f"make {target}",
                "wall s": seconds,
                "exit code": code,
                "target s": TARGETS[target],
                "met": code == 0 and seconds <= TARGETS[target],
            }
            log(row)
            rows.append(row)
    return pd.DataFrame(rows)

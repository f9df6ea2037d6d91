"""Batch scoring on Spark against the single-process ``priorworks score``, same machine, same run.

The scoring part's RealNVP detector (USPS 1x16x16, bits/dim) scores one folder of ``n`` PNGs
with each engine, every command a fresh process timed from start to exit: ``--engine local``
(torch on every core), then ``--engine spark`` with 1 executor of 1 core, 1 executor of 2
cores and 2 executors of 1 core (Spark's ``local-cluster``). Every engine also scores a folder of
8 PNGs; the difference between the two walls is the engine's work on ``n - 8`` images, so
``steady img/s`` leaves out the fixed cost (JVM and executor start, model shipping and loading)
that ``img/s incl. start`` keeps. Every Spark CSV is checked against the local one (largest
score difference).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.speed.common import cli_wall
from benchmarks.speed.scoring import log_bench_model, write_inputs
from genmodels.data.imageset import ImageSet

ENGINES = {
    "local (torch, 2 threads)": [],
    "spark 1 executor x 1 core": ["--engine", "spark", "--executors", "1"],
    "spark 1 executor x 2 cores": [
        "--engine",
        "spark",
        "--executors",
        "1",
        "--executor-cores",
        "2",
    ],
    "spark 2 executors x 1 core": ["--engine", "spark", "--executors", "2"],
}


def _score(uri: str, inputs: Path, out: Path, extra: list[str]) -> float:
    return cli_wall(["score", "--model", uri, "--input", str(inputs), "--out", str(out), *extra])


def measure_spark(images: ImageSet, n: int = 16000) -> pd.DataFrame:
    uri = log_bench_model(images)
    rows = []
    with tempfile.TemporaryDirectory(prefix="priorworks-spark-bench-") as tmp:
        big = write_inputs(images, n, Path(tmp))["folder"]
        small = write_inputs(images, 8, Path(tmp))["folder"]
        reference = None
        for engine, extra in ENGINES.items():
            out = Path(tmp) / f"{len(rows)}.csv"
            start_wall = _score(uri, small, Path(tmp) / "small.csv", extra)
            wall = _score(uri, big, out, extra)
            scores = pd.read_csv(out)
            if reference is None:
                reference = scores
            if scores["file"].tolist() != reference["file"].tolist():
                raise RuntimeError(f"{engine}: the CSV rows differ from the local engine's")
            row = {
                "engine": engine,
                "images": len(scores),
                "wall s": wall,
                "wall s (8 images)": start_wall,
                "img/s incl. start": n / wall,
                "steady img/s": (n - 8) / max(wall - start_wall, 1e-9),
                "max |score - local|": float(
                    np.abs(scores["score"].to_numpy() - reference["score"].to_numpy()).max()
                ),
            }
            print(row, flush=True)
            rows.append(row)
    table = pd.DataFrame(rows)
    local = table.iloc[0]
    table["steady vs local"] = table["steady img/s"] / local["steady img/s"]
    table["incl. start vs local"] = table["img/s incl. start"] / local["img/s incl. start"]
    return table

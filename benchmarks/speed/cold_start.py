"""Cold start: wall time of ``priorworks <command>`` from process start to exit.

Each command runs in a fresh process, ``repeats`` times, alone on the machine; the table keeps
the best and the median. ``score`` scores one 16x16 PNG with a RealNVP detector logged for the
purpose (the scoring part's bench model), so its time is imports, the model's load from MLflow
and one forward pass.
"""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from benchmarks.speed.common import cli_wall
from benchmarks.speed.scoring import log_bench_model
from genmodels.data.imageset import ImageSet

TARGETS = {"--help": "< 1 s", "models": "< 1 s"}


def measure_cold_start(images: ImageSet, repeats: int = 3) -> pd.DataFrame:
    uri = log_bench_model(images)
    rows = []
    with tempfile.TemporaryDirectory(prefix="priorworks-cold-") as tmp:
        png = Path(tmp) / "one.png"
        Image.fromarray((images.images[0, 0].numpy() * 255).round().astype(np.uint8)).save(png)
        commands = {
            "--help": ["--help"],
            "models": ["models"],
            "datasets": ["datasets"],
            "tasks": ["tasks"],
            "score (1 image)": ["score", "--model", uri, "--input", str(png), "--out",
                                str(Path(tmp) / "s.csv")],
        }  # fmt: skip
        for name, args in commands.items():
            walls = [cli_wall(args) for _ in range(repeats)]
            rows.append(
                {
                    "command": f"priorworks {name}",
                    "best s": min(walls),
                    "median s": statistics.median(walls),
                    "target": TARGETS.get(name, "-"),
                }
            )
            print(rows[-1], flush=True)
    return pd.DataFrame(rows)

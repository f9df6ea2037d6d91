"""Scaling: wall time of one training epoch and of scoring at n = 1k, 4k, 16k images.

Training: one epoch of a VAE (USPS images repeated to n) through ``fit_model``, timed from the
first batch's start to the last batch's end. Scoring: ``score_path`` on an npz of n images with
the logged RealNVP anomaly model (``benchmarks.speed.scoring``). The exponent is the slope of
log(time) on log(n), fitted by least squares: 1.0 is linear.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytorch_lightning as pl
import torch

from benchmarks.speed.common import StepTimer
from benchmarks.speed.scoring import BATCH, log_bench_model, write_inputs
from genmodels.data.imageset import ImageSet
from genmodels.registry import get_model_class
from genmodels.training import TrainConfig, fit_model, seed_all


def _repeat(images: ImageSet, n: int) -> ImageSet:
    return images.subset(torch.arange(n) % len(images))


def epoch_seconds(images: ImageSet, model_name: str = "vae", batch_size: int = 64) -> float:
    seed_all(0)
    model = get_model_class(model_name)(images.image_shape, images.levels)
    timer = StepTimer(warmup=0)
    config = TrainConfig(max_epochs=1, batch_size=batch_size, patience=0)
    fit_model(model, images, images.subset(torch.arange(batch_size)), config, callbacks=[timer])
    return timer.ends[-1] - timer.starts[0]


def exponent(sizes: list[int], seconds: list[float]) -> float:
    slope, _ = np.polyfit(np.log(sizes), np.log(seconds), 1)
    return float(slope)


def measure_scaling(
    images: ImageSet, sizes: tuple[int, ...] = (1000, 4000, 16000), log: Any = print
) -> pd.DataFrame:
    from pipelines.tracking.scoring import score_path

    pl.seed_everything(0, verbose=False)
    train_s = []
    for n in sizes:
        train_s.append(epoch_seconds(_repeat(images, n)))
        log({"train epoch": n, "s": train_s[-1]})
    uri = log_bench_model(images)
    score_s = []
    with tempfile.TemporaryDirectory(prefix="priorworks-bench-") as tmp:
        for n in sizes:
            path = write_inputs(images, n, Path(tmp))["npz"]
            start = time.perf_counter()
            score_path(uri, path, Path(tmp) / f"scores-{n}.csv", batch_size=BATCH)
            score_s.append(time.perf_counter() - start)
            log({"score": n, "s": score_s[-1]})
    rows = []
    for what, seconds in (("train one epoch (vae)", train_s), ("score npz (realnvp)", score_s)):
        row: dict[str, Any] = {"task": what}
        row.update({f"n={n} s": s for n, s in zip(sizes, seconds, strict=True)})
        row["exponent"] = exponent(list(sizes), seconds)
        row["target"] = "<= 1.10"
        rows.append(row)
    return pd.DataFrame(rows)

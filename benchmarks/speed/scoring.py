"""Scoring throughput and memory: ``priorworks score`` vs the raw batched forward pass.

A RealNVP (the default anomaly model family, USPS 1x16x16, bits/dim score) is logged once as an
MLflow anomaly model. For each input format (npz, folder of PNGs) and size n, a fresh worker
process runs :func:`pipelines.tracking.scoring.score_path` (model loading from MLflow, file reading,
conforming, scoring, CSV writing) and then, on the same images already in memory, the raw
forward pass of the same network (``log_likelihood`` in batches of 256 under inference mode).
The worker reports both times and its peak RSS, so memory at 1k and 16k images compares
process to process.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from PIL import Image

from benchmarks.speed.common import RSSPeak, rss_mib
from genmodels.data.imageset import ImageSet
from genmodels.registry import get_model_class
from genmodels.training import TrainConfig, fit_model, seed_all

BATCH = 256


def log_bench_model(images: ImageSet) -> str:
    """Train a RealNVP briefly (speed does not depend on the weights) and log it for scoring."""
    import mlflow
    from pipelines.tracking.model_export import log_detector
    from pipelines.tracking.store import setup_experiment
    from tasks.anomaly.detector import Detector
    from tasks.anomaly.scores import make_score, model_nll_bits
    from tasks.anomaly.threshold import ConformalThreshold

    seed_all(0)
    model = get_model_class("realnvp")(images.image_shape, images.levels)
    config = TrainConfig(max_epochs=1, batch_size=64, patience=0, limit_train_batches=10)
    fit_model(model, images.subset(torch.arange(1024)), images.subset(torch.arange(64)), config)
    bpd = model_nll_bits(model, images.images[:400]) / model.num_dims
    threshold = ConformalThreshold.fit(bpd, 0.05)
    _, experiment_id = setup_experiment("bench")
    with mlflow.start_run(experiment_id=experiment_id, run_name="bench:scoring-model"):
        return log_detector(Detector(model, make_score("bpd"), threshold, batch_size=BATCH))


def write_inputs(images: ImageSet, n: int, folder: Path) -> dict[str, Path]:
    """n images (repeating the set) as an npz and as a folder of PNGs."""
    index = torch.arange(n) % len(images)
    pixels = (images.images[index, 0] * 255).round().to(torch.uint8).numpy()
    npz = folder / f"inputs-{n}.npz"
    np.savez(npz, test_images=pixels)
    pngs = folder / f"inputs-{n}"
    pngs.mkdir()
    for i, image in enumerate(pixels):
        Image.fromarray(image).save(pngs / f"{i:06d}.png")
    return {"npz": npz, "folder": pngs}


def worker(uri: str, inputs: str, out: str) -> dict[str, Any]:
    """Run in a fresh process: raw forward pass, score_path, raw pass again; the peak RSS is
    sampled while score_path runs (the raw passes hold every image, scoring must not)."""
    from genmodels.data.inputs import load_inputs
    from pipelines.tracking.scoring import load_scoring_model, score_path

    cold = time.perf_counter()
    load_scoring_model(uri)  # imports and first-use costs, paid once per process
    cold_s = time.perf_counter() - cold
    start = time.perf_counter()
    _, detector = load_scoring_model(uri)  # what score_path pays again below
    load_s = time.perf_counter() - start
    model = detector.model.eval()
    x = load_inputs(inputs, model.image_shape, model.levels).images

    def raw_pass() -> float:
        begin = time.perf_counter()
        with torch.inference_mode():
            for i in range(0, len(x), BATCH):
                model.log_likelihood(x[i : i + BATCH])
        return time.perf_counter() - begin

    with torch.inference_mode():
        model.log_likelihood(x[:BATCH])  # kernel warm-up, paid by neither side
    raw_before = raw_pass()
    del x
    base = rss_mib()
    with RSSPeak() as memory:
        start = time.perf_counter()
        summary = score_path(uri, inputs, out, batch_size=BATCH)
        score_s = time.perf_counter() - start
    x = load_inputs(inputs, model.image_shape, model.levels).images
    raw_s = (raw_before + raw_pass()) / 2  # raw passes bracket the scoring run
    return {
        "images": summary.images,
        "cold_load_s": cold_s,
        "load_s": load_s,
        "score_s": score_s,
        "raw_s": raw_s,
        "rss_before_mib": base,
        "peak_rss_mib": memory.peak,
    }


def measure_scoring(
    images: ImageSet, sizes: tuple[int, ...] = (1000, 16000), log: Any = print
) -> pd.DataFrame:
    uri = log_bench_model(images)
    rows = []
    with tempfile.TemporaryDirectory(prefix="priorworks-bench-") as tmp:
        for n in sizes:
            for fmt, path in write_inputs(images, n, Path(tmp)).items():
                out = Path(tmp) / f"scores-{fmt}-{n}.csv"
                cmd = [sys.executable, "-m", "benchmarks.speed.scoring", uri, str(path), str(out)]
                done = subprocess.run(cmd, capture_output=True, text=True, check=False)
                if done.returncode != 0:
                    raise RuntimeError(f"scoring worker failed:\n{done.stderr[-2000:]}")
                r = json.loads(done.stdout.strip().splitlines()[-1])
                row = {
                    "input": fmt,
                    "images": r["images"],
                    "score img/s (incl. warm model load)": n / (r["score_s"]),
                    "score img/s (excl. load)": n / (r["score_s"] - r["load_s"]),
                    "raw img/s": n / r["raw_s"],
                    "ratio (excl. load)": r["raw_s"] / (r["score_s"] - r["load_s"]),
                    "target": ">= 0.90",
                    "model load s (cold, warm)": f"{r['cold_load_s']:.2f}, {r['load_s']:.2f}",
                    "RSS before MiB": r["rss_before_mib"],
                    "peak RSS while scoring MiB": r["peak_rss_mib"],
                }
                log(row)
                rows.append(row)
    return pd.DataFrame(rows)


if __name__ == "__main__":
    import os

    from pipelines.cli import quiet_libraries
    from pipelines.ops.allocator import keep_freed_memory

    quiet_libraries()
    keep_freed_memory(os.environ)  # as `priorworks score` does
    print(json.dumps(worker(*sys.argv[1:4])))

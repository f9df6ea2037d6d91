"""Scoring runtimes side by side: the code length ``-log2 p(x)`` of a batch of 256 images.

Each variant runs in its own fresh process (the allocator setting is process-wide), twice,
alternating, and keeps its best; all on the same freshly initialized network (seed 0, USPS
1x16x16; speed does not depend on the weights):

- ``before``: the scoring path as it was (contiguous tensors, glibc's default allocator);
- ``eager``: what ``priorworks score`` runs now (channels-last tensors, large freed blocks kept);
- ``onnx``: the detector's ONNX export on ONNX Runtime (``--runtime onnx``);
- ``compile``: ``torch.compile`` of the model's ``log_likelihood`` (the same settings as eager),
  with its one-off compile time reported apart.

``max_rel_diff`` is the largest relative difference of a variant's code lengths from eager's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

ROOT = Path(__file__).resolve().parents[2]
MODELS = ("realnvp", "pixelcnn", "vae")
VARIANTS = ("before", "eager", "onnx", "compile")
BATCH = 256


def _worker(model_name: str, variant: str, seconds: float) -> None:
    from benchmarks.speed.common import bench_images
    from benchmarks.speed.roofline import _batch, _best_seconds, _model
    from tasks.anomaly.scores import model_nll_bits

    _, images = bench_images()
    model = _model(model_name, images).eval()
    x = _batch(images, BATCH)
    compile_s = float("nan")
    if variant == "before":

        def run() -> np.ndarray:
            with torch.inference_mode():
                return (-model.log_likelihood(x) / np.log(2)).numpy()

    elif variant == "eager":
        run = lambda: model_nll_bits(model, x, BATCH)  # noqa: E731
    elif variant == "onnx":
        run = _onnx_runner(model, x)
    else:
        from genmodels.nets import to_channels_last

        to_channels_last(model)
        compiled = torch.compile(model.log_likelihood)
        xc = x.contiguous(memory_format=torch.channels_last)

        def run() -> np.ndarray:
            with torch.inference_mode():
                return (-compiled(xc) / np.log(2)).numpy()

        start = time.perf_counter()
        run()
        compile_s = time.perf_counter() - start
    bits = np.asarray(run(), dtype=np.float64)
    reference = model_nll_bits(model, x, BATCH)
    seconds_per_batch = _best_seconds(run, 3, seconds)
    print(
        json.dumps(
            {
                "img_s": BATCH / seconds_per_batch,
                "compile_s": compile_s,
                "max_rel_diff": float(np.max(np.abs(bits - reference) / np.abs(reference))),
            }
        )
    )


def _onnx_runner(model: Any, x: torch.Tensor) -> Any:
    import tempfile

    from tasks.anomaly.detector import Detector
    from tasks.anomaly.onnx_runtime import OnnxDetector, export_onnx
    from tasks.anomaly.scores import make_score
    from tasks.anomaly.threshold import ConformalThreshold

    detector = Detector(model, make_score("nll"), ConformalThreshold.fit(np.arange(40.0), 0.1))
    folder = tempfile.mkdtemp()
    exported = OnnxDetector.load(export_onnx(detector, Path(folder) / "d.onnx", check=x[:32]))
    return lambda: exported._code_lengths(x)[0]


def _launch(model: str, variant: str, seconds: float) -> dict[str, Any]:
    env = dict(os.environ)
    if variant == "before":
        env["PRIORWORKS_MALLOC"] = "system"
    code = (
        "import os; from pipelines.ops.allocator import keep_freed_memory; "
        "keep_freed_memory(os.environ); "
        "from benchmarks.speed.runtime import _worker; "
        f"_worker({model!r}, {variant!r}, {seconds})"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True
    )
    if out.returncode:
        raise RuntimeError(f"{model} {variant} worker failed:\n{out.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def measure_runtime(
    models: tuple[str, ...] = MODELS, rounds: int = 2, seconds: float = 0.5
) -> pd.DataFrame:
    """One row per (model, variant): best img/s over ``rounds`` alternating processes, and the
    ratios against ``before`` and ``eager`` of the same run."""
    rows = []
    for model in models:
        best: dict[str, dict[str, Any]] = {}
        for _ in range(rounds):
            for variant in VARIANTS:
                got = _launch(model, variant, seconds)
                if variant not in best or got["img_s"] > best[variant]["img_s"]:
                    best[variant] = got
        for variant in VARIANTS:
            rows.append(
                {
                    "model": model,
                    "runtime": variant,
                    "img/s": best[variant]["img_s"],
                    "vs before": best[variant]["img_s"] / best["before"]["img_s"],
                    "vs eager": best[variant]["img_s"] / best["eager"]["img_s"],
                    "compile_s": best[variant]["compile_s"],
                    "max_rel_diff": best[variant]["max_rel_diff"],
                }
            )
            print(rows[-1], flush=True)
    return pd.DataFrame(rows)

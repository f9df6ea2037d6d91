"""The machine's own ceiling, and how much of it each hot path uses.

Ceiling (measured here, through torch at its default threads, each the best over several
sizes): fp32 matrix multiply and 2-D convolution in GFLOP/s, and memory bandwidth in GB/s
(a large copy, read + write). Hot paths: scoring (``log_likelihood`` under inference mode on
channels-last tensors, as ``priorworks score`` runs it) and one training step
(``training_loss``, backward, the model's optimizer) of RealNVP, PixelCNN, the VAE and the DDPM
bound, at the batch size a user gets by default (``priorworks score``: 256; training: 64) and
at the best of a sweep. The suite runs with the allocator setting ``priorworks`` uses.

FLOPs per image are counted by ``torch.utils.flop_counter.FlopCounterMode`` (matrix multiplies
and convolutions, forward and backward; the elementwise work it does not count is small next
to them, and is why a memory-bound path shows a low fraction). Bytes per image are an upper
bound on memory traffic: every tensor each aten op reads and writes, counted by a dispatch mode,
as if nothing stayed in cache between ops. Arithmetic intensity = FLOPs / bytes; a path whose
intensity lies below the machine balance (peak GFLOP/s over GB/s) is memory bound.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from typing import Any

import pandas as pd
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves
from torch.utils.flop_counter import FlopCounterMode

from genmodels.contract import GenerativeModel
from genmodels.data.imageset import ImageSet
from genmodels.registry import get_model_class
from genmodels.training import TrainConfig, seed_all
from tasks.anomaly.scores import model_nll_bits

MODELS = ("realnvp", "pixelcnn", "vae", "ddpm")
SCORE_BATCH, TRAIN_BATCH = 256, TrainConfig().batch_size  # what a user gets by default
SCORE_SWEEP, TRAIN_SWEEP = (32, 64, 128, 256, 512, 1024), (16, 32, 64, 128, 256)


def _best_seconds(fn: Callable[[], Any], repeats: int, min_s: float = 0.2) -> float:
    """The fastest of ``repeats`` timings, each averaging enough calls to last ``min_s``."""
    fn()  # warm-up: allocations, kernels chosen
    start, calls = time.perf_counter(), 0
    while time.perf_counter() - start < min_s:
        fn()
        calls += 1
    per_call = (time.perf_counter() - start) / calls
    inner = max(1, int(min_s / per_call))
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        best = min(best, (time.perf_counter() - t0) / inner)
    return best


def ceiling(repeats: int = 5) -> pd.DataFrame:
    """GFLOP/s of matmul and conv2d and GB/s of a copy, at several sizes."""
    rows = []
    for n in (256, 512, 1024, 2048):
        a, b = torch.randn(n, n), torch.randn(n, n)
        s = _best_seconds(partial(torch.matmul, a, b), repeats)
        rows.append(("matmul", f"{n}x{n} @ {n}x{n}", 2 * n**3 / s / 1e9, float("nan")))
    for batch, c, side in ((64, 32, 32), (64, 64, 16), (256, 64, 16), (32, 128, 32)):
        x, conv = torch.randn(batch, c, side, side), torch.nn.Conv2d(c, c, 3, padding=1)
        flops = 2 * batch * c * c * 9 * side * side
        with torch.inference_mode():
            s = _best_seconds(partial(conv, x), repeats)
        rows.append(("conv2d 3x3", f"{batch}x{c}x{side}x{side}", flops / s / 1e9, float("nan")))
    for mib in (64, 256, 1024):
        src = torch.ones(mib * 2**18)  # mib MiB of float32
        dst = torch.empty_like(src)
        s = _best_seconds(partial(dst.copy_, src), repeats)
        rows.append(("copy", f"{mib} MiB", float("nan"), 2 * src.nbytes / s / 1e9))
    return pd.DataFrame(rows, columns=["kernel", "size", "GFLOP/s", "GB/s"])


class _BytesCounter(TorchDispatchMode):
    """Sum of the bytes of every tensor each aten op reads (its tensor arguments) and writes."""

    def __init__(self) -> None:
        super().__init__()
        self.bytes = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in tree_leaves((args, kwargs, out)):
            if isinstance(t, torch.Tensor):
                self.bytes += t.nelement() * t.element_size()
        return out


def _model(name: str, images: ImageSet) -> GenerativeModel:
    seed_all(0)
    return get_model_class(name)(images.image_shape, images.levels)


def _batch(images: ImageSet, n: int) -> torch.Tensor:
    return images.images[torch.arange(n) % len(images)]


def _scoring(model: GenerativeModel, x: torch.Tensor) -> Callable[[], Any]:
    """The scoring path ``priorworks score`` runs (channels-last, in batches of ``len(x)``)."""
    model.eval()
    return lambda: model_nll_bits(model, x, len(x))


def _training(model: GenerativeModel, x: torch.Tensor) -> Callable[[], Any]:
    model.train()
    optimizer: Any = model.configure_optimizers()
    optimizer = optimizer[0] if isinstance(optimizer, (list, tuple)) else optimizer
    optimizer = optimizer["optimizer"] if isinstance(optimizer, dict) else optimizer

    def run() -> None:
        optimizer.zero_grad(set_to_none=True)
        model.training_loss((x,)).backward()
        optimizer.step()

    return run


def _counts(step: Callable[[], Any], n: int) -> tuple[float, float]:
    """(FLOPs, bytes) per image of one call of ``step`` on ``n`` images."""
    with FlopCounterMode(display=False) as flops:
        step()
    with _BytesCounter() as moved:
        step()
    return flops.get_total_flops() / n, moved.bytes / n


def hot_paths(images: ImageSet, repeats: int = 3, models: tuple[str, ...] = MODELS) -> pd.DataFrame:
    rows = []
    for name in models:
        for path, make, default, sweep in (
            ("score", _scoring, SCORE_BATCH, SCORE_SWEEP),
            ("train step", _training, TRAIN_BATCH, TRAIN_SWEEP),
        ):
            model = _model(name, images)
            flops, moved = _counts(make(model, _batch(images, default)), default)
            rates = {}
            for n in sorted({default, *sweep}):
                s = _best_seconds(make(model, _batch(images, n)), repeats)
                rates[n] = n / s
            best = max(rates, key=rates.__getitem__)
            for label, n in (("default", default), ("best", best)):
                rows.append(
                    {
                        "model": name,
                        "path": path,
                        "batch": f"{label} {n}",
                        "img/s": rates[n],
                        "MFLOP/img": flops / 1e6,
                        "MB/img": moved / 1e6,
                        "GFLOP/s": flops * rates[n] / 1e9,
                        "intensity FLOP/B": flops / moved,
                    }
                )
            print(f"  {name} {path}: {rates[default]:.0f} img/s at {default}", flush=True)
    return pd.DataFrame(rows)


def measure_roofline(
    images: ImageSet, repeats: int = 3, models: tuple[str, ...] = MODELS
) -> pd.DataFrame:
    """One table: the ceiling rows, then each hot path with its fraction of the ceiling."""
    top = ceiling(repeats)
    peak = float(top["GFLOP/s"].max())
    conv_peak = float(top.loc[top["kernel"] == "conv2d 3x3", "GFLOP/s"].max())
    bandwidth = float(top["GB/s"].max())
    balance = peak / bandwidth
    paths = hot_paths(images, repeats, models)
    paths["of peak"] = paths["GFLOP/s"] / peak
    paths["of conv peak"] = paths["GFLOP/s"] / conv_peak
    paths["bound by"] = ["memory" if i < balance else "compute" for i in paths["intensity FLOP/B"]]
    machine_rows = top.rename(columns={"kernel": "path", "size": "batch"}).assign(model="(machine)")
    summary = pd.DataFrame([{"model": "(machine)", "path": "balance", "intensity FLOP/B": balance}])
    print(top.to_string(index=False), flush=True)
    return pd.concat([machine_rows, summary, paths], ignore_index=True)

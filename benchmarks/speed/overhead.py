"""Lightning overhead: time per training step through priorworks vs a bare PyTorch loop.

Both sides train the same freshly initialized network on the same images with the same batch
size, optimizer (the model's ``configure_optimizers``) and gradient clipping; priorworks goes
through :func:`genmodels.training.fit_model` (Lightning Trainer, checkpointing, seeding and
divergence callbacks), the bare loop calls the model's ``training_loss`` (or the GAN's
``adversarial_step``) by hand over a ``DataLoader(shuffle=True)``. The runs alternate
(priorworks, bare, priorworks, bare, ...) and each side keeps its median, so a slow phase of
the machine hits both. The same priorworks runs give the data-wait share (see ``StepTimer``).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import pandas as pd
import torch
from torch.utils.data import DataLoader, TensorDataset

from benchmarks.speed.common import StepTimer
from genmodels.contract import GenerativeModel
from genmodels.data.imageset import ImageSet
from genmodels.registry import get_model_class
from genmodels.training import TrainConfig, fit_model, seed_all

MODELS = ("realnvp", "vae", "pixelcnn", "ddpm", "dcgan", "vae-cond", "dcgan-cond")
CLIP = TrainConfig().gradient_clip


def _fresh(name: str, images: ImageSet, seed: int) -> GenerativeModel:
    seed_all(seed)
    return get_model_class(name)(images.image_shape, images.levels)


def priorworks_step(
    name: str, images: ImageSet, batch_size: int, steps: int, warmup: int, seed: int
) -> tuple[float, float]:
    """(seconds per step, data-wait share) through ``fit_model``."""
    model = _fresh(name, images, seed)
    timer = StepTimer(warmup)
    config = TrainConfig(
        max_epochs=1, batch_size=batch_size, patience=0, limit_train_batches=steps + warmup + 1
    )
    val = images.subset(torch.arange(batch_size))
    fit_model(model, images, val, config, seed=seed, callbacks=[timer])
    return timer.step_s, timer.wait_share


def bare_step(
    name: str,
    images: ImageSet,
    batch_size: int,
    steps: int,
    warmup: int,
    seed: int,
    before_step: Callable[[], object] | None = None,
) -> float:
    """Seconds per step of a hand-written loop over the same network, batch and optimizer
    (``before_step``: called at the start of every step, inside the timing)."""
    model = _fresh(name, images, seed).train()
    tensors = [images.images] + ([images.labels] if images.labels is not None else [])
    loader = DataLoader(TensorDataset(*tensors), batch_size=batch_size, shuffle=True)
    optimizers: Any = model.configure_optimizers()
    batches = iter(loader)
    starts = []
    for _ in range(warmup + steps + 1):
        starts.append(time.perf_counter())
        if before_step is not None:
            before_step()
        batch = next(batches)
        if model.automatic_optimization:
            optimizers.zero_grad()
            loss = model.training_loss(tuple(batch))
            loss.backward()
            if CLIP is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP)
            optimizers.step()
        else:
            opt_g, opt_d = optimizers
            model.adversarial_step(tuple(batch), opt_g, opt_d, torch.Tensor.backward)
    timed = starts[warmup:]
    return (timed[-1] - timed[0]) / (len(timed) - 1)


def measure_overhead(
    images: ImageSet,
    models: tuple[str, ...] = MODELS,
    batch_size: int = 64,
    steps: int = 40,
    warmup: int = 5,
    repeats: int = 3,
    log: Any = print,
) -> pd.DataFrame:
    rows = []
    for name in models:
        ours, waits, bare = [], [], []
        for r in range(repeats):
            step, wait = priorworks_step(name, images, batch_size, steps, warmup, seed=r)
            ours.append(step)
            waits.append(wait)
            bare.append(bare_step(name, images, batch_size, steps, warmup, seed=r))
        row = {
            "model": name,
            "batch": batch_size,
            "steps x repeats": f"{steps} x {repeats}",
            "priorworks ms/step": 1e3 * statistics.median(ours),
            "bare ms/step": 1e3 * statistics.median(bare),
            "ratio": statistics.median(ours) / statistics.median(bare),
            "target": "<= 1.10",
            "data-wait share": statistics.median(waits),
            "wait target": "<= 0.10",
        }
        log(row)
        rows.append(row)
    return pd.DataFrame(rows)

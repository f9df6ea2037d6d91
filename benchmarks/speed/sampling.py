"""Sampling rate of every model of the zoo, with the sampler settings that reach it.

Weights do not change the cost of drawing a sample, so each model is freshly initialized
(closed-form models are fit to the images first). PixelCNN uses its cached sampler (see
``benchmarks/pixelcnn_sampling.py``); diffusion models are timed at several DDIM step counts.
"""

from __future__ import annotations

import time
from typing import Any

import pandas as pd
import torch

from genmodels.data.imageset import ImageSet
from genmodels.registry import get_model_class, list_models
from genmodels.training import seed_all

DDIM_STEPS = (10, 50)


def _timed(fn: Any) -> float:
    fn()  # warm-up: first-call costs are not the rate
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def measure_sampling(images: ImageSet, n: int = 64, log: Any = print) -> pd.DataFrame:
    rows = []
    for info in list_models():
        cls = get_model_class(info.name)
        seed_all(0)
        model = cls(images.image_shape, images.levels)
        if cls.closed_form:
            model.fit_closed_form(images.images[:2000], generator=torch.Generator().manual_seed(0))
        model.eval()
        settings: list[tuple[str, dict[str, Any]]] = [("default", {})]
        if cls.family == "diffusion":
            settings = [(f"DDIM {s} steps", {"steps": s}) for s in DDIM_STEPS]
        for label, extra in settings:
            gen = torch.Generator().manual_seed(0)
            seconds = _timed(lambda m=model, e=extra, g=gen: m.sample(n, generator=g, **e))
            row = {
                "model": info.name,
                "sampler": label,
                "samples": n,
                "seconds": seconds,
                "samples/s": n / seconds,
            }
            log(row)
            rows.append(row)
    return pd.DataFrame(rows)

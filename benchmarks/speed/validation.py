"""Validation cost of the class-conditional models: the marginal over classes vs ``log p(x|y)``.

Conditional models used to validate on the marginal ``log sum_y pi_y p(x|y)`` (one pass per
class); they now validate on ``log p(x | y)`` at the known labels (one pass). Both are timed
here on the same validation images, side by side, for every conditional likelihood model.
"""

from __future__ import annotations

import time
from typing import Any

import pandas as pd
import torch

from genmodels.class_conditional import ClassConditional
from genmodels.contract import Likelihood
from genmodels.data.imageset import ImageSet
from genmodels.registry import get_model_class, list_models
from genmodels.training import seed_all


def measure_validation(images: ImageSet, n: int = 256, log: Any = print) -> pd.DataFrame:
    x, y = images.images[:n], images.labels
    if y is None:
        raise ValueError("the validation benchmark needs labelled images")
    y = y[:n]
    rows = []
    for info in list_models():
        cls = get_model_class(info.name)
        if not issubclass(cls, ClassConditional) or cls.likelihood is Likelihood.NONE:
            continue
        seed_all(0)
        model = cls(images.image_shape, images.levels).eval()
        with torch.inference_mode():
            model.conditional_log_likelihood(x[:8], y[:8])  # warm-up
            start = time.perf_counter()
            model.log_likelihood(x)
            marginal = time.perf_counter() - start
            start = time.perf_counter()
            model.conditional_log_likelihood(x, y)
            conditional = time.perf_counter() - start
        row = {
            "model": info.name,
            "images": n,
            "marginal s (before)": marginal,
            "conditional s (now)": conditional,
            "speed-up": marginal / conditional,
        }
        log(row)
        rows.append(row)
    return pd.DataFrame(rows)

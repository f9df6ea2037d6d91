"""The ``stacked`` arm: a posterior's estimate and the regressor's forecast, averaged with a weight
chosen on validation images.

An amortized posterior's estimate (the mean of its draws) and the CNN regressor both estimate
the posterior mean of the chroma, and they err in different places: the posterior mean is
blurred where the posterior is wide, the regressor where its training loss averaged colours
away. A convex combination of two estimates is often better than either (stacking, Wolpert
1992; Breiman 1996). The weight is the one of ``weights`` whose combination has the highest
PSNR over the first ``images`` validation images (pooled squared error, as the test reads
it); 1 keeps the posterior's estimate, 0 the regressor's. Both estimates reproduce the gray
input, and so does any convex combination of them (luma is linear in RGB), which also stays in
the RGB cube.

The arm is a point estimate: it has no draws of its own. The posterior's draws, coverage and
energy score stay on the posterior's own row. A run that stacks logs the posterior, the
regressor and the weight as one file (:data:`STACKED_ARTIFACT`), from which
``priorworks colorize`` delivers the stacked estimate for photos of any size.
"""

from __future__ import annotations

import io
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pandas as pd
import torch
from pydantic import Field, field_validator
from torch import Tensor, nn

from genmodels.settings import Section
from tasks.colorize.amortized import ChromaPosterior, posterior_mean
from tasks.colorize.chroma_flow import ChromaFlowModule, conditional_bytes, read_conditional
from tasks.colorize.chroma_pixelcnn import (
    ChromaPixelCNNModule,
    is_pixelcnn_file,
    pixelcnn_bytes,
    read_pixelcnn,
)
from tasks.colorize.color import luma
from tasks.colorize.files import load_saved, saved_kind
from tasks.colorize.regressor import ChromaRegressor, regress_colorize

StackedArm = Literal["conditional", "conditional-pixelcnn"]


class StackSpec(Section):
    """Which posterior the ``stacked`` arm averages with the regressor, and how the weight is
    chosen."""

    arm: StackedArm = "conditional-pixelcnn"
    # the posterior estimate's weight; 1 - weight goes to the regressor's forecast
    weights: list[float] = Field(
        default_factory=lambda: [round(0.1 * i, 1) for i in range(11)], min_length=1
    )
    images: int = Field(1024, ge=1)  # the first validation images the weight is chosen on

    @field_validator("weights")
    @classmethod
    def _in_unit_interval(cls, v: list[float]) -> list[float]:
        if min(v) < 0 or max(v) > 1:
            raise ValueError(f"stacking weights must lie in [0, 1], got {v}")
        return v


def stacked(posterior: Tensor, forecast: Tensor, weight: float) -> Tensor:
    """``weight * posterior + (1 - weight) * forecast``: colour images ``(B, 3, H, W)``."""
    if posterior.shape != forecast.shape:
        raise ValueError(
            f"stacking needs estimates of one shape, got {tuple(posterior.shape)} and "
            f"{tuple(forecast.shape)}"
        )
    return weight * posterior + (1.0 - weight) * forecast


def choose_weight(
    posterior: Tensor, forecast: Tensor, truth: Tensor, weights: list[float]
) -> tuple[float, pd.DataFrame]:
    """The weight of ``weights`` whose stacked estimate of validation images has the highest
    pooled PSNR against ``truth`` (the first of equals), and the grid: weight, psnr, chosen."""
    if truth.shape != posterior.shape:
        raise ValueError(
            f"the truth {tuple(truth.shape)} and the estimates {tuple(posterior.shape)} differ"
        )
    rows = []
    for w in weights:
        mse = float(((stacked(posterior, forecast, w) - truth) ** 2).mean())
        rows.append({"weight": float(w), "psnr": 10 * math.log10(1.0 / max(mse, 1e-10))})
    grid = pd.DataFrame(rows)
    best = int(grid["psnr"].to_numpy().argmax())
    grid["chosen"] = grid.index == best
    return float(grid["weight"].iloc[best]), grid


def weight_on_validation(
    module: ChromaPosterior,
    regressor: ChromaRegressor,
    val_rgb: Tensor,
    config: StackSpec,
    generator: torch.Generator | None = None,
) -> tuple[float, pd.DataFrame]:
    """Choose the stacking weight on the first ``config.images`` validation images: the
    posterior's estimate there (:func:`~tasks.colorize.amortized.posterior_mean` of its
    ``mean_samples`` terms, as on the test images) against the regressor's forecast."""
    images = val_rgb[: config.images]
    gray = luma(images)
    posterior = posterior_mean(module, gray, module.config.mean_samples, generator)
    return choose_weight(posterior, regress_colorize(regressor, gray), images, config.weights)


_FILE_KIND = "priorworks-stacked-colorizer"
#: where a colorize run that ran the stacked arm keeps it among its artifacts
STACKED_ARTIFACT = "conditional/stacked.pt"


@dataclass(frozen=True)
class StackedColorizer:
    """What ``priorworks colorize`` needs to deliver the stacked estimate for a photo: the
    posterior (its draws and its estimate), the regressor and the posterior's weight."""

    posterior: ChromaFlowModule | ChromaPixelCNNModule
    regressor: ChromaRegressor
    weight: float


def stacked_bytes(stack: StackedColorizer) -> bytes:
    """A stacked colorizer as a file's bytes: the posterior's own file (as
    :func:`~tasks.colorize.chroma_flow.conditional_bytes` or
    :func:`~tasks.colorize.chroma_pixelcnn.pixelcnn_bytes` writes it), the regressor and the
    weight (read back by :func:`read_stacked`)."""
    posterior = (
        pixelcnn_bytes(stack.posterior)
        if isinstance(stack.posterior, ChromaPixelCNNModule)
        else conditional_bytes(stack.posterior)
    )
    first = stack.regressor.net[0]
    assert isinstance(first, nn.Conv2d)
    buffer = io.BytesIO()
    contents = {
        "kind": _FILE_KIND,
        "weight": float(stack.weight),
        "posterior": posterior,
        "regressor_width": first.out_channels,
        "regressor": stack.regressor.state_dict(),
    }
    torch.save(contents, buffer)
    return buffer.getvalue()


def is_stacked_file(path: str | Path) -> bool:
    """Whether ``path`` holds a stacked colorizer (False for anything else)."""
    return saved_kind(path) == _FILE_KIND


def read_stacked(path: str | Path, temperature: float | None = None) -> StackedColorizer:
    """A stacked-colorizer file; its posterior draws at ``temperature`` (None: the temperatures
    it records). ValueError naming the file if it is not one."""
    saved = load_saved(path)
    if saved is None or saved.get("kind") != _FILE_KIND:
        raise ValueError(f"'{path}' is not a stacked-colorizer file")
    regressor = ChromaRegressor(int(saved["regressor_width"]))
    regressor.load_state_dict(saved["regressor"])
    with tempfile.TemporaryDirectory() as tmp:
        inner = Path(tmp) / "posterior.pt"
        inner.write_bytes(saved["posterior"])
        if is_pixelcnn_file(inner):
            posterior: ChromaFlowModule | ChromaPixelCNNModule = read_pixelcnn(inner, temperature)
        else:
            posterior = read_conditional(inner, temperature)
    return StackedColorizer(posterior, regressor.eval(), float(saved["weight"]))

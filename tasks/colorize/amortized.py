"""What the amortized posteriors of chroma given gray share (the conditional flow,
:mod:`tasks.colorize.chroma_flow`, and the conditional PixelCNN,
:mod:`tasks.colorize.chroma_pixelcnn`): exact draws at a temperature, and the two temperatures
calibrated on validation images, one for the draws (by the coverage of their credible
intervals) and one for the draws averaged into the estimate (by its PSNR)."""

from __future__ import annotations

import math
from typing import Literal, Protocol, Self

import pandas as pd
import torch
from pydantic import Field, field_validator
from torch import Tensor

from genmodels.settings import Section
from tasks.colorize.color import compose, luma
from tasks.colorize.posterior import chroma_coverage


class CalibrationSpec(Section):
    """How an amortized posterior's draws are tempered and averaged."""

    # of the draws (< 1: less diverse, more typical), or "calibrate": the temperature of
    # `temperatures` whose 50% and 90% credible intervals cover the true chroma of
    # `calibration_images` validation images closest to 50% and 90% (never the test images)
    temperature: float | Literal["calibrate"] = "calibrate"
    temperatures: list[float] = Field(
        default_factory=lambda: [0.0, 0.3, 0.6, 0.8, 1.0, 1.2, 1.4, 1.7, 2.0], min_length=1
    )
    calibration_images: int = Field(256, ge=1)
    calibration_draws: int = Field(8, ge=2)
    mean_samples: int = Field(16, ge=1)  # draws averaged into the estimate

    @field_validator("temperature")
    @classmethod
    def _non_negative(cls, v: float | str) -> float | str:
        if isinstance(v, float) and v < 0:
            raise ValueError(f"temperature must be >= 0 (or 'calibrate'), got {v}")
        return v

    @field_validator("temperatures")
    @classmethod
    def _grid_non_negative(cls, v: list[float]) -> list[float]:
        if min(v) < 0:
            raise ValueError(f"temperatures must be >= 0, got {v}")
        return v


class ChromaPosterior(Protocol):
    """A trained model of ``p(chroma | gray)`` that draws exactly at a temperature."""

    temperature: float  # of the draws reported as the arm's samples
    estimate_temperature: float  # of the draws averaged into the estimate

    @property
    def config(self) -> CalibrationSpec: ...

    def eval(self) -> Self: ...

    def sample_chroma(
        self, gray: Tensor, temperature: float, generator: torch.Generator | None = None
    ) -> Tensor: ...


@torch.no_grad()
def sample_conditional(
    module: ChromaPosterior,
    gray: Tensor,
    n: int,
    generator: torch.Generator | None = None,
    batch_size: int = 256,
    temperature: float | None = None,
) -> Tensor:
    """``n`` exact posterior draws per gray image: colour images ``(n, B, 3, H, W)`` whose luma is
    exactly ``gray``; at ``temperature`` (None: the module's)."""
    if n < 1:
        raise ValueError(f"need n >= 1 samples, got {n}")
    module.eval()
    t = module.temperature if temperature is None else temperature
    draws = []
    for _ in range(n):
        parts = []
        for i in range(0, len(gray), batch_size):
            g = gray[i : i + batch_size]
            parts.append(compose(g, module.sample_chroma(g, t, generator)))
        draws.append(torch.cat(parts))
    return torch.stack(draws)


def calibrate_temperature(
    module: ChromaPosterior, val_rgb: Tensor, generator: torch.Generator | None = None
) -> pd.DataFrame:
    """Calibrate the posterior's two temperatures on the first ``calibration_images`` validation
    images ``(N, 3, H, W)``, each from ``config.temperatures``:

    - ``module.temperature``, of the draws: the one whose central 50% and 90% credible intervals
      cover the true chroma closest to 50% and 90% (the sum of both misses, read by the
      randomized PIT, :func:`~tasks.colorize.posterior.chroma_coverage`);
    - ``module.estimate_temperature``, of the draws averaged into the estimate: the one whose
      mean of ``calibration_draws`` draws has the highest PSNR over the set (a posterior mean
      judged by squared error, as the test is).

    Returns the grid: temperature, coverage_50, coverage_90, miss, psnr_of_mean, chosen,
    chosen_for_estimate."""
    config = module.config
    images = val_rgb[: config.calibration_images]
    gray = luma(images)
    rows = []
    for t in config.temperatures:
        draws = sample_conditional(module, gray, config.calibration_draws, generator, temperature=t)
        cover = chroma_coverage(draws, images, generator=generator)
        c50, c90 = float(cover[0.5].mean()), float(cover[0.9].mean())
        mse = float(((draws.mean(0) - images) ** 2).mean())
        rows.append({"temperature": float(t), "coverage_50": c50, "coverage_90": c90,
                     "miss": abs(c50 - 0.5) + abs(c90 - 0.9),
                     "psnr_of_mean": 10 * math.log10(1.0 / max(mse, 1e-10))})  # fmt: skip
    grid = pd.DataFrame(rows)
    best = int(grid["miss"].to_numpy().argmin())
    sharpest = int(grid["psnr_of_mean"].to_numpy().argmax())
    grid["chosen"] = grid.index == best
    grid["chosen_for_estimate"] = grid.index == sharpest
    module.temperature = float(rows[best]["temperature"])
    module.estimate_temperature = float(rows[sharpest]["temperature"])
    return grid

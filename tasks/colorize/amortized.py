"""What the amortized posteriors of chroma given gray share (the conditional flow,
:mod:`tasks.colorize.chroma_flow`, and the conditional PixelCNN,
:mod:`tasks.colorize.chroma_pixelcnn`): exact draws at a temperature, and the two temperatures
calibrated on validation images, one for the draws (by the coverage of their credible
intervals) and one for the draws averaged into the estimate (by its PSNR)."""

from __future__ import annotations

import math
from collections.abc import Callable
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
    # validation images the estimate's temperature is chosen on (the first ones): its pooled
    # PSNR is steered by a few hard images, so a choice read on more of them is steadier
    estimate_images: int = Field(256, ge=1)
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
    estimate_temperature: float  # of the terms averaged into the estimate
    # whether estimate_chroma is sample_chroma, so that one set of draws can serve both
    terms_are_draws: bool

    @property
    def config(self) -> CalibrationSpec: ...

    def eval(self) -> Self: ...

    def sample_chroma(
        self, gray: Tensor, temperature: float, generator: torch.Generator | None = None
    ) -> Tensor: ...

    def estimate_chroma(
        self, gray: Tensor, temperature: float, generator: torch.Generator | None = None
    ) -> Tensor:
        """One random term of the posterior mean at ``temperature``: its expectation is the
        draws' (the draw itself, or a lower-variance stand-in)."""
        ...


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
    t = module.temperature if temperature is None else temperature
    return _composed(module.eval().sample_chroma, gray, n, t, generator, batch_size)


@torch.no_grad()
def posterior_mean(
    module: ChromaPosterior,
    gray: Tensor,
    n: int,
    generator: torch.Generator | None = None,
    batch_size: int = 256,
    temperature: float | None = None,
) -> Tensor:
    """The estimate: the mean of ``n`` of the posterior's estimate terms
    (``estimate_chroma``), each composed with ``gray`` ``(B, 1, H, W)``; colour images
    ``(B, 3, H, W)`` at ``temperature`` (None: the module's estimate temperature)."""
    t = module.estimate_temperature if temperature is None else temperature
    return _composed(module.eval().estimate_chroma, gray, n, t, generator, batch_size).mean(0)


def _composed(
    chroma: Callable[[Tensor, float, torch.Generator | None], Tensor],
    gray: Tensor,
    n: int,
    temperature: float,
    generator: torch.Generator | None,
    batch_size: int,
) -> Tensor:
    """``(n, B, 3, H, W)``: ``n`` rounds of ``chroma(gray, temperature, generator)`` over the
    batches of ``gray``, each composed with its gray image."""
    if n < 1:
        raise ValueError(f"need n >= 1 samples, got {n}")
    rounds = []
    for _ in range(n):
        parts = []
        for i in range(0, len(gray), batch_size):
            g = gray[i : i + batch_size]
            parts.append(compose(g, chroma(g, temperature, generator)))
        rounds.append(torch.cat(parts))
    return torch.stack(rounds)


def calibrate_temperature(
    module: ChromaPosterior, val_rgb: Tensor, generator: torch.Generator | None = None
) -> pd.DataFrame:
    """Calibrate the posterior's two temperatures on validation images ``(N, 3, H, W)``, each
    from ``config.temperatures``:

    - ``module.temperature``, of the draws: the one whose central 50% and 90% credible intervals
      cover the true chroma of the first ``calibration_images`` closest to 50% and 90% (the
      sum of both misses, read by the randomized PIT,
      :func:`~tasks.colorize.posterior.chroma_coverage`);
    - ``module.estimate_temperature``, of the estimate: the one whose
      :func:`posterior_mean` of ``calibration_draws`` terms has the highest PSNR over the first
      ``estimate_images`` validation images (a posterior mean judged by squared error, as the
      test is).

    Returns the grid: temperature, coverage_50, coverage_90, miss, psnr_of_mean, chosen,
    chosen_for_estimate."""
    config = module.config
    images, judged = val_rgb[: config.calibration_images], val_rgb[: config.estimate_images]
    gray, gray_est = luma(images), luma(judged)
    rows = []
    for t in config.temperatures:
        draws = sample_conditional(module, gray, config.calibration_draws, generator, temperature=t)
        cover = chroma_coverage(draws, images, generator=generator)
        c50, c90 = float(cover[0.5].mean()), float(cover[0.9].mean())
        if module.terms_are_draws and config.estimate_images <= config.calibration_images:
            estimate = draws[:, : config.estimate_images].mean(0)  # the same draws serve
        else:
            estimate = posterior_mean(
                module, gray_est, config.calibration_draws, generator, temperature=t
            )
        mse = float(((estimate - judged) ** 2).mean())
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

"""A colorization arm judged as a posterior over chroma, not only by its point estimate.

For an arm with ``K`` draws per image:

- **coverage** of its per-pixel central credible intervals (50% and 90%): the share of true chroma
  values (Cb and Cr of every pixel) inside them. Read through the randomized probability integral
  transform (PIT): the rank of the truth among the ``K`` draws, spread uniformly over its cell,
  ``u = (rank + V) / (K + 1)``. If the truth is exchangeable with the draws (a calibrated
  posterior), ``u`` is uniform on ``[0, 1]`` for any ``K``, so the coverage of the central
  ``level`` interval, ``P(|u - 1/2| <= level / 2)``, equals ``level`` without the bias that
  empirical quantiles of few draws carry (the range of 8 draws covers only 7/9). Ties (pixels
  whose chroma is forced, pure black or white) get a uniform rank among the tied draws. Under
  coverage means an over-confident posterior; over coverage, an under-confident one.
- **energy score** (Gneiting and Raftery 2007), a proper scoring rule for the joint chroma of the
  image, lower is better: ``mean_k ||X_k - y|| - 1/(2K(K-1)) sum_{k != l} ||X_k - X_l||`` (the
  fair estimator), norms as RMS over the image's chroma values. An arm without draws is scored
  as a point forecast (``K = 1``: its RMS chroma error), so the gray image and the regressor
  are on the same scale as the sampling arms.
- **bits/dim of the true chroma** where the arm has a normalized density: the conditional flow
  (:mod:`tasks.colorize.chroma_flow`) and the uniform prior (:func:`uniform_truth_bpd`).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from tasks.colorize.color import polygon_area, to_chroma

#: the central credible intervals whose coverage is reported
COVERAGE_LEVELS: tuple[float, ...] = (0.5, 0.9)


def randomized_pit(
    draws: Tensor, truth: Tensor, generator: torch.Generator | None = None
) -> Tensor:
    """Randomized PIT of each truth value among its draws: ``draws`` ``(K, ...)``, ``truth``
    ``(...)`` -> ``u`` ``(...)`` in ``[0, 1]``, uniform when the truth is exchangeable with the
    draws."""
    if draws.ndim != truth.ndim + 1 or draws.shape[1:] != truth.shape:
        raise ValueError(f"draws {tuple(draws.shape)} do not match truth {tuple(truth.shape)}")
    k = draws.shape[0]
    below = (draws < truth).sum(0).to(torch.float64)
    ties = (draws == truth).sum(0).to(torch.float64)
    shape, dtype = tuple(truth.shape), torch.float64
    tie_rank = torch.floor(torch.rand(shape, generator=generator, dtype=dtype) * (ties + 1))
    jitter = torch.rand(shape, generator=generator, dtype=dtype)
    return (below + tie_rank + jitter) / (k + 1)


def chroma_coverage(
    samples: Tensor,
    truth: Tensor,
    levels: tuple[float, ...] = COVERAGE_LEVELS,
    generator: torch.Generator | None = None,
) -> dict[float, Tensor]:
    """Per image ``(B,)``, for each level: the share of the true chroma values of ``truth``
    ``(B, 3, H, W)`` inside the central ``level`` credible interval of ``samples``
    ``(K, B, 3, H, W)`` (RGB draws; their chroma is compared)."""
    if samples.ndim != 5 or samples.shape[0] < 1:
        raise ValueError(f"samples must be (K, B, 3, H, W), got {tuple(samples.shape)}")
    for level in levels:
        if not 0.0 < level < 1.0:
            raise ValueError(f"a credible level must lie in (0, 1), got {level}")
    k = samples.shape[0]
    draws = to_chroma(samples.flatten(0, 1)).reshape(k, len(truth), 2, *truth.shape[2:])
    u = randomized_pit(draws.double(), to_chroma(truth).double(), generator)
    inside = {lv: ((u - 0.5).abs() <= lv / 2).flatten(1).double().mean(1) for lv in levels}
    return inside


def energy_score(samples: Tensor, truth: Tensor) -> Tensor:
    """The fair energy score of each image's chroma draws ``(K, B, 3, H, W)`` against the truth
    ``(B, 3, H, W)``, ``(B,)``; norms are RMS over the image's chroma values. ``K = 1`` scores a
    point forecast: its RMS chroma error."""
    if samples.ndim != 5 or samples.shape[1:] != truth.shape:
        raise ValueError(f"samples {tuple(samples.shape)} do not match truth {tuple(truth.shape)}")
    k = samples.shape[0]
    draws = to_chroma(samples.flatten(0, 1)).double().reshape(k, len(truth), -1)
    target = to_chroma(truth).double().flatten(1)
    scale = math.sqrt(draws.shape[-1])
    accuracy = (draws - target).norm(dim=-1).mean(0) / scale
    if k < 2:
        return accuracy
    spread = torch.zeros(len(truth), dtype=torch.float64)
    for i in range(k):
        spread += (draws[i] - draws).norm(dim=-1).sum(0)  # the i == i term is zero
    return accuracy - spread / (2 * k * (k - 1) * scale)


def uniform_truth_bpd(gray: Tensor, levels: int = 256) -> Tensor:
    """``-log2`` probability of the true chroma's bin under the uniform prior on each pixel's
    feasible polygon, per chroma dimension ``(B,)``, on the conditional flow's scale: a bin
    ``1/(levels-1)`` wide per chroma value. A pixel whose polygon is smaller than a bin (the
    chroma is all but forced) costs 0 bits."""
    area = polygon_area(gray).double().flatten(1)  # (B, H*W)
    bins = area * (levels - 1) ** 2  # bins in the polygon: its probability is 1 / bins
    bits = torch.log2(bins.clamp_min(1.0))
    return bits.mean(1) / 2

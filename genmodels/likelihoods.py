"""Pixel likelihoods over discrete intensity levels (decoders and autoregressive models)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor


def discretized_logistic_log_prob(
    x: Tensor, mean: Tensor, log_scale: Tensor, levels: int
) -> Tensor:
    """Per-pixel log-probability of discrete ``x`` under a logistic discretized to ``levels`` bins.

    Args:
        x: values on the grid ``k / (levels - 1)`` in ``[0, 1]``, any shape.
        mean, log_scale: logistic parameters, same shape as ``x`` (or broadcastable).
        levels: number of intensity levels ``L``.

    The bin of level ``k`` is ``[x - h, x + h]`` with ``h = 1 / (2 (L - 1))``; the first and last
    bins extend to minus and plus infinity, so the probabilities of the ``L`` levels sum to one
    exactly (Salimans et al. 2017, in our units). Returns the same shape as ``x``, in nats.
    """
    half = 0.5 / (levels - 1)
    centered = x - mean
    inv_scale = torch.exp(-log_scale)
    plus = inv_scale * (centered + half)
    minus = inv_scale * (centered - half)
    log_cdf_plus = plus - F.softplus(plus)  # log sigmoid(plus): mass of the lowest bin
    log_survival_minus = -F.softplus(minus)  # log (1 - sigmoid(minus)): mass of the highest bin
    cdf_delta = torch.sigmoid(plus) - torch.sigmoid(minus)
    mid = inv_scale * centered
    # When the bin mass underflows, use the density at the bin centre times the bin width.
    log_pdf_mid = mid - log_scale - 2.0 * F.softplus(mid) + math.log(2 * half)
    log_mid = torch.where(cdf_delta > 1e-5, torch.log(cdf_delta.clamp_min(1e-12)), log_pdf_mid)
    k = torch.round(x * (levels - 1))
    return torch.where(
        k <= 0, log_cdf_plus, torch.where(k >= levels - 1, log_survival_minus, log_mid)
    )


def sample_discretized_logistic(
    mean: Tensor, log_scale: Tensor, levels: int, generator: torch.Generator | None = None
) -> Tensor:
    """Draw discrete values on the ``levels`` grid in ``[0, 1]`` from the discretized logistic."""
    u = torch.rand(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
    u = u.clamp(1e-5, 1 - 1e-5)
    y = mean + torch.exp(log_scale) * (torch.log(u) - torch.log1p(-u))
    return torch.round(y.clamp(0, 1) * (levels - 1)) / (levels - 1)


def discretized_gaussian_log_prob(
    x: Tensor, mean: Tensor, log_scale: Tensor, levels: int
) -> Tensor:
    """Per-pixel log-probability of discrete ``x`` under a Gaussian discretized to ``levels`` bins.

    Same bins as :func:`discretized_logistic_log_prob` (units of ``[0, 1]``); the end bins extend to
    infinity, so the levels' probabilities sum to one. This is the decoder of a DDPM's last step
    (Ho et al. 2020). Computed in log space (``log_ndtr``), so far-off bins stay finite and exact.
    """
    half = 0.5 / (levels - 1)
    inv_scale = torch.exp(-log_scale)
    plus = inv_scale * (x - mean + half)
    minus = inv_scale * (x - mean - half)
    log_cdf_plus = torch.special.log_ndtr(plus)
    log_survival_minus = torch.special.log_ndtr(-minus)
    # log(Phi(b) - Phi(a)) on the side of the bin away from the bulk, for precision in the tails
    upper_side = minus > 0  # bin above the mean: use survival functions
    hi = torch.where(upper_side, torch.special.log_ndtr(-minus), log_cdf_plus)
    lo = torch.where(upper_side, torch.special.log_ndtr(-plus), torch.special.log_ndtr(minus))
    log_delta = hi + torch.log1p(-torch.exp((lo - hi).clamp(max=-1e-12)))
    k = torch.round(x * (levels - 1))
    return torch.where(
        k <= 0, log_cdf_plus, torch.where(k >= levels - 1, log_survival_minus, log_delta)
    )

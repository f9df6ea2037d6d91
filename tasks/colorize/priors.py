"""Priors over colour images: log p(rgb) per image, differentiable in the pixels.

- :class:`ModelPrior`: a zoo model's ``smooth_log_likelihood`` (any DIFFERENTIABLE model, EXACT or
  BOUND), the generative prior;
- :class:`MeanChromaPrior`: independent Gaussians on each pixel's chroma, mean and spread
  estimated from the training images (the classical "average colour at this position" prior);
- :class:`UniformPrior`: constant; the posterior is then uniform on the valid colours, which
  :func:`tasks.colorize.color.uniform_chroma` samples exactly.
"""

from __future__ import annotations

import math
from typing import Protocol

import torch
from torch import Tensor

from genmodels.contract import Capability, GenerativeModel, Likelihood
from tasks.colorize.color import to_chroma
from tasks.requirements import TaskRequirement

#: What colorization needs from a prior model: a likelihood differentiable in the pixels.
REQUIREMENT = TaskRequirement(
    task="colorize",
    likelihoods=frozenset({Likelihood.EXACT, Likelihood.BOUND}),
    capabilities=frozenset({Capability.DIFFERENTIABLE}),
)


class Prior(Protocol):
    """``log p(rgb)`` ``(B,)`` in nats for ``rgb`` ``(B, 3, H, W)`` in ``[0, 1]``."""

    name: str

    def __call__(self, rgb: Tensor) -> Tensor: ...


class ModelPrior:
    """A generative model of colour images as the prior (its weights are frozen)."""

    def __init__(self, model: GenerativeModel, name: str | None = None) -> None:
        REQUIREMENT.check(type(model))
        if model.image_shape[0] != 3:
            raise ValueError(
                f"a colour prior must model 3-channel images; '{model.name}' models "
                f"{model.image_shape}"
            )
        self.model = model.eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.name = name or model.name

    def __call__(self, rgb: Tensor) -> Tensor:
        return self.model.smooth_log_likelihood(rgb)


class MeanChromaPrior:
    """``log p(rgb) = sum_pixels log N(chroma; mean, std^2)`` with per-pixel mean and std."""

    name = "mean-chroma"

    def __init__(self, mean: Tensor, std: Tensor) -> None:
        if mean.shape != std.shape or mean.ndim != 3 or mean.shape[0] != 2:
            raise ValueError(f"mean and std must both be (2, H, W), got {mean.shape}, {std.shape}")
        if not (std > 0).all():
            raise ValueError("every std must be positive")
        self.mean, self.std = mean, std

    @classmethod
    def fit(cls, images: Tensor, min_std: float = 0.02) -> MeanChromaPrior:
        """Mean and std of the chroma at each pixel position over colour images ``(N, 3, H, W)``."""
        if images.ndim != 4 or images.shape[1] != 3 or len(images) < 2:
            raise ValueError(f"need at least two colour images (N, 3, H, W), got {images.shape}")
        chroma = to_chroma(images.double())
        return cls(chroma.mean(0).float(), chroma.std(0).clamp_min(min_std).float())

    def __call__(self, rgb: Tensor) -> Tensor:
        z = (to_chroma(rgb) - self.mean) / self.std
        log_norm = torch.log(self.std).sum() + 0.5 * self.mean.numel() * math.log(2 * math.pi)
        return -0.5 * (z**2).flatten(1).sum(1) - log_norm


class UniformPrior:
    """A flat prior: every valid colouring of the gray input is equally likely."""

    name = "uniform"

    def __call__(self, rgb: Tensor) -> Tensor:
        return rgb.new_zeros(rgb.shape[0]) + 0.0 * rgb.flatten(1).sum(1)

"""Shared machinery of the classical densities: fit in closed form on dequantized pixels."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

import numpy as np
import torch
from torch import Tensor

from genmodels.contract import Capability, GenerativeModel, Likelihood


class ClassicalDensity(GenerativeModel, ABC):
    """A Gaussian-family density over flattened pixels, fit by scikit-learn, scored in torch.

    Fitting sees uniformly dequantized pixels (so a pixel that is always 0 still has a variance);
    scoring evaluates the density at the bin centres, as the flows do. Parameters are buffers, so
    checkpoints and the model file carry them; scoring is differentiable in ``x``.
    """

    family = "classical"
    likelihood = Likelihood.EXACT
    capabilities = frozenset({Capability.SAMPLE, Capability.DIFFERENTIABLE})
    closed_form = True

    @abstractmethod
    def log_density(self, y: Tensor) -> Tensor:
        """Continuous log-density ``(B,)`` of flattened ``y: (B, D)``."""

    @abstractmethod
    def _fit(self, data: np.ndarray, seed: int) -> None:
        """Set the buffers from dequantized training pixels ``(N, D)``."""

    @abstractmethod
    def _sample_flat(self, n: int, generator: torch.Generator | None) -> Tensor:
        """``(n, D)`` continuous samples."""

    def fit_closed_form(self, images: Tensor, generator: torch.Generator | None = None) -> None:
        self.check_input(images)
        y = self.dequantize(images.double(), generator=generator).flatten(1).numpy()
        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator).item())
        self._fit(y, seed)

    def log_prob(self, x: Tensor) -> Tensor:
        self.check_input(x)
        return self._at_bin_centres(self.dequantize(x, noise=False), x.dtype)

    def smooth_log_likelihood(self, y: Tensor) -> Tensor:
        self.check_input(y)
        return self._at_bin_centres(self.grid_to_bin_centres(y), y.dtype)

    def _at_bin_centres(self, y: Tensor, dtype: torch.dtype) -> Tensor:
        flat = y.flatten(1).to(torch.float64)
        return (self.log_density(flat) - self.num_dims * math.log(self.levels)).to(dtype)

    @torch.no_grad()
    def sample(
        self, n: int, condition: Tensor | None = None, generator: torch.Generator | None = None
    ) -> Tensor:
        self.resolve_condition(n, condition, generator)  # refuses a condition
        y = self._sample_flat(n, generator).view(n, *self.image_shape)
        return self.to_levels(y).float()

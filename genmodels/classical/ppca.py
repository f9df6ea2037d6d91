"""Probabilistic PCA (Tipping & Bishop 1999): a Gaussian with low-rank plus isotropic covariance."""

from __future__ import annotations

import math

import numpy as np
import torch
from sklearn.decomposition import PCA
from torch import Tensor

from genmodels.classical.base import ClassicalDensity
from genmodels.registry import register_model


@register_model
class PPCA(ClassicalDensity):
    """``x ~ N(mu, W W^T + sigma^2 I)`` with ``W`` of rank ``n_components``.

    Maximum-likelihood fit in closed form from the eigen-decomposition of the covariance: the
    top ``q`` eigenvectors ``U`` and eigenvalues ``lam``, and ``sigma^2`` the mean of the others.
    Then ``C^{-1} = U^T diag(1/lam) U + (I - U^T U) / sigma^2`` and
    ``log det C = sum(log lam) + (D - q) log sigma^2``.
    """

    name = "ppca"
    description = "probabilistic PCA (scikit-learn fit, closed form)"

    def __init__(
        self, image_shape: tuple[int, int, int], levels: int = 256, n_components: int = 32
    ) -> None:
        super().__init__(image_shape, levels)
        self.save_hyperparameters()
        q = min(n_components, self.num_dims - 1)
        if q < 1:
            raise ValueError(f"ppca needs images with at least 2 pixels, got {self.image_shape}")
        self.n_components = q
        self.mean: Tensor
        self.components: Tensor
        self.eigenvalues: Tensor
        self.noise_variance: Tensor
        self.register_buffer("mean", torch.zeros(self.num_dims, dtype=torch.float64))
        self.register_buffer("components", torch.zeros(q, self.num_dims, dtype=torch.float64))
        self.register_buffer("eigenvalues", torch.ones(q, dtype=torch.float64))
        self.register_buffer("noise_variance", torch.ones((), dtype=torch.float64))

    def _fit(self, data: np.ndarray, seed: int) -> None:
        if data.shape[0] <= self.n_components:
            raise ValueError(
                f"ppca with {self.n_components} components needs more than {self.n_components} "
                f"training images, got {data.shape[0]}"
            )
        pca = PCA(n_components=self.n_components, random_state=seed).fit(data)
        self.mean.copy_(torch.from_numpy(pca.mean_))
        self.components.copy_(torch.from_numpy(pca.components_))
        sigma2 = max(float(pca.noise_variance_), 1e-8)
        self.noise_variance.fill_(sigma2)
        self.eigenvalues.copy_(torch.from_numpy(np.maximum(pca.explained_variance_, sigma2)))

    def log_density(self, y: Tensor) -> Tensor:
        r = y.to(self.mean.dtype) - self.mean
        proj = r @ self.components.T
        sigma2 = self.noise_variance
        quad = (proj**2 / self.eigenvalues).sum(1) + ((r**2).sum(1) - (proj**2).sum(1)) / sigma2
        logdet = torch.log(self.eigenvalues).sum() + (
            self.num_dims - self.n_components
        ) * torch.log(sigma2)
        return -0.5 * (self.num_dims * math.log(2 * math.pi) + logdet + quad)

    def _sample_flat(self, n: int, generator: torch.Generator | None) -> Tensor:
        z = torch.randn(n, self.n_components, generator=generator, dtype=torch.float64)
        eps = torch.randn(n, self.num_dims, generator=generator, dtype=torch.float64)
        scale = torch.sqrt(self.eigenvalues - self.noise_variance)
        return self.mean + (z * scale) @ self.components + torch.sqrt(self.noise_variance) * eps

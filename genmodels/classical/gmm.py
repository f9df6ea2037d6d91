"""Gaussian mixture over pixels with full covariances (scikit-learn EM fit, torch scoring)."""

from __future__ import annotations

import math

import numpy as np
import torch
from sklearn.mixture import GaussianMixture
from torch import Tensor

from genmodels.classical.base import ClassicalDensity
from genmodels.registry import register_model


@register_model
class GMM(ClassicalDensity):
    """``p(x) = sum_k w_k N(x; mu_k, Sigma_k)``.

    Stored as weights, means and the upper-triangular Cholesky factors ``P_k`` of the precisions
    (``Sigma_k^{-1} = P_k P_k^T``), so ``log N = -0.5 (D log 2 pi + |P_k^T (x - mu_k)|^2) +
    sum log diag P_k``. ``reg_covar`` is added to the covariance diagonals for stability.
    """

    name = "gmm"
    description = "Gaussian mixture, full covariances (scikit-learn EM fit)"

    def __init__(
        self,
        image_shape: tuple[int, int, int],
        levels: int = 256,
        n_components: int = 4,
        reg_covar: float = 1e-3,
        max_iter: int = 200,
    ) -> None:
        super().__init__(image_shape, levels)
        self.save_hyperparameters()
        self.n_components, self.reg_covar, self.max_iter = n_components, reg_covar, max_iter
        k, d = n_components, self.num_dims
        self.log_weights: Tensor
        self.means: Tensor
        self.precision_chol: Tensor
        self.register_buffer("log_weights", torch.full((k,), -math.log(k), dtype=torch.float64))
        self.register_buffer("means", torch.zeros(k, d, dtype=torch.float64))
        self.register_buffer("precision_chol", torch.eye(d, dtype=torch.float64).repeat(k, 1, 1))

    def _fit(self, data: np.ndarray, seed: int) -> None:
        if data.shape[0] < self.n_components:
            raise ValueError(
                f"gmm with {self.n_components} components needs that many training images"
            )
        gm = GaussianMixture(
            self.n_components,
            covariance_type="full",
            reg_covar=self.reg_covar,
            max_iter=self.max_iter,
            random_state=seed,
        ).fit(data)
        self.log_weights.copy_(torch.from_numpy(np.log(gm.weights_)))
        self.means.copy_(torch.from_numpy(gm.means_))
        self.precision_chol.copy_(torch.from_numpy(gm.precisions_cholesky_))

    def log_density(self, y: Tensor) -> Tensor:
        r = y.to(self.means.dtype)[:, None, :] - self.means[None]  # (B, K, D)
        white = torch.einsum("bkd,kde->bke", r, self.precision_chol)
        log_det = torch.log(torch.diagonal(self.precision_chol, dim1=1, dim2=2)).sum(1)
        log_n = -0.5 * (self.num_dims * math.log(2 * math.pi) + (white**2).sum(2)) + log_det
        return torch.logsumexp(self.log_weights + log_n, dim=1)

    def _sample_flat(self, n: int, generator: torch.Generator | None) -> Tensor:
        comp = torch.multinomial(self.log_weights.exp(), n, replacement=True, generator=generator)
        eps = torch.randn(n, self.num_dims, generator=generator, dtype=torch.float64)
        # P^T (x - mu) = eps  =>  x = mu + P^{-T} eps, covariance (P P^T)^{-1}; one solve per
        # component for all its draws (a (D, D) factor per draw would not fit in memory)
        out = torch.empty_like(eps)
        for k in comp.unique().tolist():
            rows = (comp == k).nonzero().squeeze(1)
            chol_t = self.precision_chol[k].T
            offset = torch.linalg.solve_triangular(chol_t, eps[rows].T, upper=False).T
            out[rows] = self.means[k] + offset
        return out

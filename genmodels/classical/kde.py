"""Gaussian kernel density over pixels, its bandwidth chosen by leave-one-out likelihood."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import Tensor

from genmodels.classical.base import ClassicalDensity
from genmodels.registry import register_model


def _squared_distances(a: Tensor, b: Tensor) -> Tensor:
    """``(len(a), len(b))`` squared Euclidean distances, never negative."""
    d = (a * a).sum(1, keepdim=True) + (b * b).sum(1)[None] - 2.0 * a @ b.T
    return d.clamp_min(0.0)


def _distances_to_others(points: Tensor) -> Tensor:
    """Squared distances between the points, ``inf`` on the diagonal (each point left out)."""
    return _squared_distances(points, points).fill_diagonal_(math.inf)


def leave_one_out_log_likelihood(
    points: Tensor, bandwidths: Tensor, to_others: Tensor | None = None
) -> Tensor:
    """Mean leave-one-out log-density of ``points (n, D)`` under the KDE of the other ``n - 1``
    points, for each bandwidth; ``(len(bandwidths),)``. ``to_others``: the points'
    :func:`_distances_to_others`, when the caller has them already."""
    n, d = points.shape
    sq = _distances_to_others(points) if to_others is None else to_others
    h2 = bandwidths.to(points) ** 2

    # one bandwidth and a block of rows at a time: temporaries of a few MB, where an (H, n, n)
    # tensor would be 800 MB at n = 2000, H = 25, and whole (n, n) ones grew the heap by 650 MB
    def mean_log_kernel(v: Tensor) -> Tensor:
        blocks = [torch.logsumexp(-sq[i : i + 256] / (2 * v), dim=1) for i in range(0, n, 256)]
        return torch.cat(blocks).mean()

    log_k = torch.stack([mean_log_kernel(v) for v in h2])
    return log_k - math.log(n - 1) - 0.5 * d * torch.log(2 * math.pi * h2)


@register_model
class KDE(ClassicalDensity):
    """``p(x) = (1/n) sum_i N(x; x_i, h^2 I)`` over the (dequantized) training images.

    With ``bandwidth=None`` the fit picks ``h`` on a log grid by the leave-one-out likelihood of
    the training points (likelihood cross-validation), centred on the median nearest-neighbour
    distance over ``sqrt(D)``. At most ``max_points`` training images are kept (a seeded draw):
    the model stores them, so its file grows with the data, which is the nature of a KDE. Samples
    are a stored image plus Gaussian noise of the bandwidth: noisy copies, which the share task's
    membership-inference check flags (measured on digits: AUC 1.0, so its gate refuses them).
    """

    name = "kde"
    description = "Gaussian kernel density (bandwidth by leave-one-out likelihood)"

    def __init__(
        self,
        image_shape: tuple[int, int, int],
        levels: int = 256,
        bandwidth: float | None = None,
        max_points: int = 2000,
        grid_size: int = 25,
    ) -> None:
        super().__init__(image_shape, levels)
        if bandwidth is not None and bandwidth <= 0:
            raise ValueError(f"bandwidth must be > 0 (or null to choose it), got {bandwidth}")
        if max_points < 2:
            raise ValueError(f"max_points must be >= 2, got {max_points}")
        if grid_size < 1:
            raise ValueError(f"grid_size must be >= 1, got {grid_size}")
        self.save_hyperparameters()
        self.fixed_bandwidth, self.max_points, self.grid_size = bandwidth, max_points, grid_size
        self.points: Tensor
        self.bandwidth: Tensor
        # unfitted: one kernel at the centre of the cube, a proper density like the other
        # classical models' defaults; fitting replaces it with the training points
        self.register_buffer("points", torch.full((1, self.num_dims), 0.5, dtype=torch.float64))
        self.register_buffer("bandwidth", torch.ones((), dtype=torch.float64))

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any) -> None:
        # the number of stored points is known only after fitting: take the file's
        key = prefix + "points"
        if key in state_dict:
            self.points = torch.empty_like(state_dict[key])
        super()._load_from_state_dict(state_dict, prefix, *args)

    def _fit(self, data: np.ndarray, seed: int) -> None:
        if data.shape[0] < 2:
            raise ValueError(f"kde needs at least 2 training images, got {data.shape[0]}")
        rng = np.random.default_rng(seed)
        if data.shape[0] > self.max_points:
            data = data[np.sort(rng.choice(data.shape[0], self.max_points, replace=False))]
        points = torch.from_numpy(np.ascontiguousarray(data, dtype=np.float64))
        self.points = points
        if self.fixed_bandwidth is not None:
            self.bandwidth.fill_(self.fixed_bandwidth)
            return
        sq = _distances_to_others(points)
        nearest = float(sq.min(1).values.sqrt().median())
        centre = max(nearest, 1e-6) / math.sqrt(self.num_dims)
        grid = centre * torch.logspace(-1, 1.5, self.grid_size, dtype=torch.float64)
        scores = leave_one_out_log_likelihood(points, grid, to_others=sq)
        self.bandwidth.fill_(float(grid[int(scores.argmax())]))

    def log_density(self, y: Tensor) -> Tensor:
        h2 = self.bandwidth**2
        sq = _squared_distances(y.to(self.points.dtype), self.points)
        log_k = torch.logsumexp(-sq / (2 * h2), dim=1)
        n = self.points.shape[0]
        return log_k - math.log(n) - 0.5 * self.num_dims * torch.log(2 * math.pi * h2)

    def _sample_flat(self, n: int, generator: torch.Generator | None) -> Tensor:
        pick = torch.randint(0, self.points.shape[0], (n,), generator=generator)
        eps = torch.randn(n, self.num_dims, generator=generator, dtype=torch.float64)
        return self.points[pick] + self.bandwidth * eps

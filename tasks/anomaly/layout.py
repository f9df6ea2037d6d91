"""The layout of an image, and a density over layouts of normal images.

A code length (model or compressor) measures an image's texture and contrast: what the likelihood
trap is about. The *layout* is what is left at a coarse scale once exposure is taken out: the
image is averaged down to a few pixels per side and standardized to zero mean and unit variance
(per image), so a brighter or higher-contrast copy of an image has the same layout, and its fine
texture does not enter. Normal images share a layout (lungs dark, mediastinum bright, in the same
places); a Gaussian over the layouts of the normal training images, with Ledoit-Wolf shrinkage
(scikit-learn), gives each image a layout code length ``-log2 N(layout; mu, Sigma)`` in bits.

The ``layout`` and ``layout-typicality`` scores (:mod:`tasks.anomaly.scores`) read it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.covariance import LedoitWolf
from torch import Tensor


def layout_view(images: Tensor, size: tuple[int, int]) -> np.ndarray:
    """``(N, C, H, W)`` images -> ``(N, C * h * w)`` layouts: area means over a ``size`` grid,
    standardized per image (a flat image, with no layout, becomes all zeros)."""
    if images.ndim != 4:
        raise ValueError(f"layout_view expects images (N, C, H, W), got {tuple(images.shape)}")
    if size[0] > images.shape[2] or size[1] > images.shape[3]:
        raise ValueError(
            f"layout size {list(size)} is larger than the images {list(images.shape[2:])}"
        )
    pooled = F.adaptive_avg_pool2d(images.to(torch.float64), size).flatten(1)
    centred = pooled - pooled.mean(1, keepdim=True)
    scale = centred.pow(2).mean(1, keepdim=True).sqrt()
    out = torch.where(scale > 1e-12, centred / scale.clamp_min(1e-12), torch.zeros_like(centred))
    return out.numpy()


@dataclass(frozen=True)
class LayoutDensity:
    """A Gaussian over the layouts of normal images (Ledoit-Wolf shrunk covariance)."""

    size: tuple[int, int]
    mean: np.ndarray  # (D,)
    precision: np.ndarray  # (D, D)
    log_det_cov: float

    @classmethod
    def fit(cls, images: Tensor, size: tuple[int, int]) -> LayoutDensity:
        """Fit on normal images ``(N, C, H, W)``; needs at least two."""
        if images.shape[0] < 2:
            raise ValueError(f"a layout density needs at least 2 images, got {images.shape[0]}")
        views = layout_view(images, size)
        lw = LedoitWolf().fit(views)
        sign, log_det = np.linalg.slogdet(lw.covariance_)
        if sign <= 0:
            raise ValueError("the layout covariance is not positive definite")
        return cls((int(size[0]), int(size[1])), lw.location_, lw.precision_, float(log_det))

    def bits(self, images: Tensor) -> np.ndarray:
        """``-log2`` of the layout density per image, ``(N,)`` float64."""
        diff = layout_view(images, self.size) - self.mean
        mahalanobis_sq = np.einsum("nd,de,ne->n", diff, self.precision, diff)
        nats = 0.5 * (mahalanobis_sq + self.log_det_cov + len(self.mean) * math.log(2 * math.pi))
        return nats / math.log(2)

    def cell_bits(self, images: Tensor) -> np.ndarray:
        """Each layout cell's share of the Mahalanobis term, in bits, ``(N, h, w)`` summed over
        channels: ``d_i (P d)_i / (2 ln 2)`` with ``d`` the layout's deviation from the mean and
        ``P`` the precision, so the cells add up to :meth:`bits` minus its constant part."""
        diff = layout_view(images, self.size) - self.mean
        terms = diff * (diff @ self.precision.T) / (2 * math.log(2))
        h, w = self.size
        return terms.reshape(len(diff), -1, h, w).sum(1)

    def state(self) -> dict[str, Any]:
        """JSON-serializable; travels inside an exported model."""
        return {
            "size": list(self.size),
            "mean": self.mean.tolist(),
            "precision": self.precision.tolist(),
            "log_det_cov": self.log_det_cov,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> LayoutDensity:
        return cls(
            (int(state["size"][0]), int(state["size"][1])),
            np.asarray(state["mean"], dtype=np.float64),
            np.asarray(state["precision"], dtype=np.float64),
            float(state["log_det_cov"]),
        )

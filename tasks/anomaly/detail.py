"""A map of how much fine detail each region of an image has, which needs no network.

Each pixel's value is the log of the local energy of the image's high frequencies: the image minus
its Gaussian blur (``HIGHPASS_SIGMA`` pixels), squared, summed over channels and pooled by a
Gaussian of ``POOL_SIGMA`` pixels. Standardized per pixel on normal images' maps, it says where an
image is smoother (negative) or busier (positive) than normal images are at that place. Both are
anomalous, so the detector reads it two-sided (:mod:`tasks.anomaly.map_setting`).

It sees what a patch comparison misses. A locally blurred region looks like the smooth regions
that normal images have elsewhere, so its patches find close neighbours, but it holds less detail
than normal images hold *there*. Both settings were fixed before the map was tried. Their first
trial was on synthetic local anomalies of the development sets' normal validation images
(``benchmarks/results/anomaly.md``).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from tasks.anomaly.corruptions import gaussian_blur

#: Gaussian widths, in pixels, of the high-pass and of the pooling of its energy
HIGHPASS_SIGMA, POOL_SIGMA = 1.0, 1.5
#: added to the energy before the log: flat regions of 8-bit images stay finite
_FLOOR = 1e-5


def _blurred(images: Tensor, sigma: float) -> Tensor:
    n, c, h, w = images.shape
    return gaussian_blur(images.reshape(n * c, h, w), sigma).reshape(n, c, h, w)


def detail_maps(images: Tensor) -> np.ndarray:
    """``(N, H, W)`` float64: the log local energy of the high frequencies of ``images``
    ``(N, C, H, W)`` in [0, 1]."""
    if images.ndim != 4:
        raise ValueError(f"images must be (N, C, H, W), got {tuple(images.shape)}")
    x = images.double()
    high = x - _blurred(x, HIGHPASS_SIGMA)
    energy = _blurred(high.pow(2), POOL_SIGMA).sum(1)
    return torch.log(energy + _FLOOR).numpy()

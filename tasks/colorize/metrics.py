"""Per-image quality measures of a colorization, all on RGB in ``[0, 1]``."""

from __future__ import annotations

import itertools

import torch
from skimage.metrics import structural_similarity
from torch import Tensor

from tasks.colorize.color import luma


def psnr(pred: Tensor, truth: Tensor) -> Tensor:
    """Peak signal-to-noise ratio in dB per image ``(B,)`` (peak 1); capped at 100 dB."""
    mse = ((pred - truth) ** 2).flatten(1).mean(1)
    return (10 * torch.log10(1.0 / mse.clamp_min(1e-10))).clamp(max=100.0)


def ssim(pred: Tensor, truth: Tensor) -> Tensor:
    """Structural similarity per image ``(B,)`` (scikit-image, colour channels averaged; the
    window shrinks to the largest odd size <= 7 that fits small images)."""
    side = min(pred.shape[-2:])
    win = min(7, side if side % 2 else side - 1)
    if win < 3:
        raise ValueError(f"images of {tuple(pred.shape[-2:])} are too small for SSIM (need >= 3)")
    values = [
        structural_similarity(p, t, channel_axis=0, data_range=1.0, win_size=win)
        for p, t in zip(pred.double().numpy(), truth.double().numpy(), strict=True)
    ]
    return torch.tensor(values, dtype=torch.float64)


def colourfulness(rgb: Tensor) -> Tensor:
    """Hasler and Süsstrunk (2003) colourfulness per image ``(B,)``, RGB scaled to 0..255.

    ``rg = R - G``, ``yb = (R + G) / 2 - B``; ``sqrt(var rg + var yb) + 0.3 sqrt(mean rg^2 +
    mean yb^2)`` over the pixels. Zero for a gray image.
    """
    x = rgb.double() * 255
    rg = (x[:, 0] - x[:, 1]).flatten(1)
    yb = (0.5 * (x[:, 0] + x[:, 1]) - x[:, 2]).flatten(1)
    spread = torch.sqrt(rg.var(1, unbiased=False) + yb.var(1, unbiased=False))
    centre = torch.sqrt(rg.mean(1) ** 2 + yb.mean(1) ** 2)
    return spread + 0.3 * centre


def consistency_error(rgb: Tensor, gray: Tensor) -> Tensor:
    """Mean absolute difference between the output's luma and the gray input ``(B,)``."""
    return (luma(rgb) - gray).abs().flatten(1).mean(1)


def diversity(samples: Tensor) -> Tensor:
    """Mean pairwise RMS distance between the ``K`` samples of each image ``(B,)``;
    ``samples`` is ``(K, B, 3, H, W)`` with ``K >= 2``."""
    k = samples.shape[0]
    if k < 2:
        raise ValueError(f"diversity needs at least two samples per image, got {k}")
    pairs = [
        ((samples[i] - samples[j]) ** 2).flatten(1).mean(1).sqrt()
        for i, j in itertools.combinations(range(k), 2)
    ]
    return torch.stack(pairs).mean(0)


def best_of_k_psnr(samples: Tensor, truth: Tensor) -> Tensor:
    """The best PSNR among each image's samples ``(B,)``."""
    return torch.stack([psnr(s, truth) for s in samples]).amax(0)

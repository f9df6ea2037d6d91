"""The background data of the likelihood-ratio score (Ren et al. 2019).

The background model is the same family trained on normal images whose pixels were randomly
replaced: the perturbation destroys the semantic content the main model should capture and keeps
the low-level statistics (intensity histogram, local smoothness) both models share. Their
likelihood ratio cancels the shared part.
"""

from __future__ import annotations

import torch

from genmodels.data.imageset import ImageSet


def perturb(
    images: torch.Tensor, levels: int, rate: float, generator: torch.Generator
) -> torch.Tensor:
    """Replace each value of ``images`` (in [0, 1]) with probability ``rate`` by a level drawn
    uniformly from the ``levels``."""
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"mutation rate must be in [0, 1], got {rate}")
    mask = torch.rand(images.shape, generator=generator) < rate
    random_levels = torch.randint(0, levels, images.shape, generator=generator).to(images.dtype)
    return torch.where(mask, random_levels / (levels - 1), images)


def background_data(normal: ImageSet, rate: float, seed: int, copies: int = 1) -> ImageSet:
    """``copies`` independently perturbed copies of the normal images (labels kept)."""
    if copies < 1:
        raise ValueError(f"copies must be >= 1, got {copies}")
    g = torch.Generator().manual_seed(seed)
    images = torch.cat([perturb(normal.images, normal.levels, rate, g) for _ in range(copies)])
    labels = None if normal.labels is None else normal.labels.repeat(copies)
    return ImageSet(images, labels, levels=normal.levels)

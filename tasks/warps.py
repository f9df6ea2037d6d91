"""Classic augmentation: small random affine warps (and flips where they make sense), batched;
shared by the tasks (augment's classic arms, transfer's teacher-labelled warps).

One ``torch.nn.functional.affine_grid`` + ``grid_sample`` call warps a whole batch with a different
random affine per image. The per-image MONAI ``RandAffine`` used before cost ~1.8 ms per 8x8
image and took 24 of the 35 s of one augment draw (benchmarks/NOTES.md); the batch costs about
as much as one image did.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from genmodels.data.imageset import ImageSet


class ClassicAugmentation:
    """``(B, C, H, W) -> (B, C, H, W)``: with probability ``prob`` per image, a rotation up to
    ``degrees``, a shift up to ``shift`` of the size and a scaling up to ``scale`` (bilinear,
    zeros outside); then horizontal flips with probability 0.5 when ``flips`` (not for digits: a
    flipped 7 is no 7). Seeded: the same seed draws the same warps for the same batches."""

    def __init__(
        self,
        seed: int,
        flips: bool = False,
        degrees: float = 10.0,
        shift: float = 0.1,
        scale: float = 0.1,
        prob: float = 0.9,
    ) -> None:
        self.generator = torch.Generator().manual_seed(seed)
        self.flips, self.prob = flips, prob
        self.radians, self.shift, self.scale = math.radians(degrees), shift, scale

    def _uniform(self, n: int, half_width: float) -> Tensor:
        return (2 * torch.rand(n, generator=self.generator) - 1) * half_width

    def __call__(self, x: Tensor) -> Tensor:
        n = x.shape[0]
        angle = self._uniform(n, self.radians)
        zoom = 1 + self._uniform(n, self.scale)
        # affine_grid works in [-1, 1] coordinates: a shift of f of the size is 2f there
        tx, ty = self._uniform(n, 2 * self.shift), self._uniform(n, 2 * self.shift)
        warp = torch.rand(n, generator=self.generator) < self.prob
        cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
        theta = torch.stack(
            [torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1
        ).to(x)
        theta[~warp] = torch.eye(2, 3, dtype=x.dtype)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        out = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        if self.flips:
            flip = torch.rand(n, generator=self.generator) < 0.5
            out[flip] = out[flip].flip(-1)
        return out.clamp(0, 1)


def classic_augmentation(seed: int, flips: bool = False) -> ClassicAugmentation:
    """The augmentation every ``classic`` arm uses (defaults above), seeded per draw."""
    return ClassicAugmentation(seed, flips)


def with_warped_copies(images: ImageSet, copies: int, seed: int, flips: bool = False) -> ImageSet:
    """``images`` followed by ``copies`` classic-augmented copies of each (same labels), put back
    on the ``levels`` grid: a larger training set for a generator that sees only a few images."""
    if copies == 0:
        return images
    augment = classic_augmentation(seed, flips)
    x = images.images
    warped = [
        torch.round(augment(x) * (images.levels - 1)) / (images.levels - 1) for _ in range(copies)
    ]
    labels = None if images.labels is None else images.labels.repeat(copies + 1)
    return ImageSet(
        torch.cat([x, *warped]), labels, levels=images.levels, class_names=images.class_names
    )

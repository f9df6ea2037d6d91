"""Classic augmentation with MONAI: small random affine warps, flips only where they make sense."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from monai.transforms import Compose, RandAffine, RandFlip
from torch import Tensor

from tasks.classifier import Transform


def classic_augmentation(image_size: tuple[int, int], seed: int, flips: bool = False) -> Transform:
    """A per-image ``(C, H, W) -> (C, H, W)`` random transform: rotation up to 10 degrees, shifts
    up to 10%, scaling up to 10%, and horizontal flips when ``flips`` (not for digits: a flipped
    7 is no 7). Seeded, so an arm's augmentation repeats."""
    steps: list[Callable[..., object]] = [
        RandAffine(
            prob=0.9,
            rotate_range=(math.radians(10),),
            translate_range=(0.1 * image_size[0], 0.1 * image_size[1]),  # in pixels
            scale_range=(0.1, 0.1),
            padding_mode="zeros",
        )
    ]
    if flips:
        steps.append(RandFlip(prob=0.5, spatial_axis=1))
    chain = Compose(steps)
    chain.set_random_state(seed=seed)

    def apply(x: Tensor) -> Tensor:
        out = chain(x)
        return torch.as_tensor(out).as_subclass(torch.Tensor).clamp(0, 1).float()

    return apply

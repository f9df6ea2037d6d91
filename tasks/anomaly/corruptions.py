"""Synthetic anomalies made from normal images, for choosing a detector without labelled ones.

A user usually has normal images only. Corrupting held-out normal images with a fixed library of
local and global changes gives anomalies whose masks are known: a detector that ranks them above
the originals is at least sensitive to image changes of these kinds. Every setting below is fixed
in advance and the same for every data set; only the seed varies.

Local corruptions change one rectangle (sides between a sixth and a third of the image's, at
least 2 pixels) and report it as the mask:

* ``patch-blend``: the same-size region of another normal image blended in (weight 0.5 to 1);
* ``cut-paste``: a region of the same image copied over another place;
* ``local-intensity``: the region brightened or darkened by 0.15 to 0.35;
* ``local-blur``: the region replaced by a Gaussian blur (sigma 1.5 pixels);
* ``local-noise``: Gaussian noise (sigma 0.15) added in the region;
* ``local-elastic``: the region warped by a smooth random displacement (up to a quarter side).

Global corruptions change the whole image (the mask is every pixel): ``contrast`` (scaled about
the image mean by 0.5 to 0.7 or 1.4 to 1.8), ``exposure`` (shifted by 0.1 to 0.2 either way),
``noise`` (Gaussian, sigma 0.08) and ``blur`` (Gaussian, sigma 1 pixel). Every result is clamped
to [0, 1] and put back on the images' level grid.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from genmodels.data.imageset import on_grid

LOCAL = (
    "patch-blend",
    "cut-paste",
    "local-intensity",
    "local-blur",
    "local-noise",
    "local-elastic",
)
GLOBAL = ("contrast", "exposure", "noise", "blur")
KINDS = LOCAL + GLOBAL
Region = tuple[int, int, int, int]  # top, left, height, width


@dataclass(frozen=True)
class Corrupted:
    """Corrupted copies of normal images.

    Attributes:
        images: ``(N, C, H, W)`` in [0, 1], on the originals' level grid.
        masks: ``(N, 1, H, W)`` bool, the pixels a corruption was applied to.
        kinds: the corruption of each image.
    """

    images: Tensor
    masks: Tensor
    kinds: tuple[str, ...]


def _uniform(low: float, high: float, g: torch.Generator) -> float:
    return float(low + (high - low) * torch.rand((), generator=g))


def _region(h: int, w: int, g: torch.Generator) -> Region:
    """``(top, left, height, width)`` of a random rectangle inside an ``h`` x ``w`` image."""

    def side(n: int) -> int:
        low, high = max(2, n // 6), max(3, n // 3)
        return min(n, int(torch.randint(low, high + 1, (), generator=g)))

    rh, rw = side(h), side(w)
    top = int(torch.randint(0, h - rh + 1, (), generator=g))
    left = int(torch.randint(0, w - rw + 1, (), generator=g))
    return top, left, rh, rw


def gaussian_blur(image: Tensor, sigma: float) -> Tensor:
    """``(C, H, W)`` blurred channel by channel, edges replicated."""
    radius = max(1, round(2 * sigma))
    x = torch.arange(-radius, radius + 1, dtype=image.dtype)
    kernel = torch.exp(-(x**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    c = image.shape[0]
    out = image.unsqueeze(0)
    row = kernel.view(1, 1, 1, -1).expand(c, 1, 1, -1)
    col = kernel.view(1, 1, -1, 1).expand(c, 1, -1, 1)
    out = F.conv2d(F.pad(out, (radius, radius, 0, 0), mode="replicate"), row, groups=c)
    out = F.conv2d(F.pad(out, (0, 0, radius, radius), mode="replicate"), col, groups=c)
    return out.squeeze(0)


def _elastic(image: Tensor, region: Region, g: torch.Generator) -> Tensor:
    """The image warped by a smooth random displacement that is largest inside ``region``."""
    _, h, w = image.shape
    top, left, rh, rw = region
    strength = max(rh, rw) / 4.0  # pixels
    coarse = (torch.rand(2, 3, 3, generator=g) * 2 - 1) * strength
    field = F.interpolate(coarse.unsqueeze(0), size=(rh, rw), mode="bicubic", align_corners=True)
    shift = torch.zeros(2, h, w, dtype=image.dtype)
    shift[:, top : top + rh, left : left + rw] = field.squeeze(0).to(image.dtype)
    ys, xs = torch.meshgrid(
        torch.arange(h, dtype=image.dtype), torch.arange(w, dtype=image.dtype), indexing="ij"
    )
    grid_x = (xs + shift[0]) / max(w - 1, 1) * 2 - 1
    grid_y = (ys + shift[1]) / max(h - 1, 1) * 2 - 1
    grid = torch.stack([grid_x, grid_y], dim=-1).unsqueeze(0)
    warped = F.grid_sample(
        image.unsqueeze(0), grid, mode="bilinear", padding_mode="border", align_corners=True
    )
    return warped.squeeze(0)


def _inside(x: Tensor, region: Region, changed: Tensor) -> Tensor:
    """``x`` with the pixels of ``region`` taken from ``changed``."""
    top, left, rh, rw = region
    out = x.clone()
    out[:, top : top + rh, left : left + rw] = changed[:, top : top + rh, left : left + rw]
    return out


def _moved(source: Tensor, region: Region, g: torch.Generator) -> Tensor:
    """A canvas whose ``region`` holds a same-size rectangle from a random place of ``source``."""
    top, left, rh, rw = region
    src_top = int(torch.randint(0, source.shape[1] - rh + 1, (), generator=g))
    src_left = int(torch.randint(0, source.shape[2] - rw + 1, (), generator=g))
    canvas = torch.zeros_like(source)
    canvas[:, top : top + rh, left : left + rw] = source[
        :, src_top : src_top + rh, src_left : src_left + rw
    ]
    return canvas


def _patch_blend(x: Tensor, donor: Tensor, r: Region, g: torch.Generator) -> Tensor:
    alpha = _uniform(0.5, 1.0, g)
    return _inside(x, r, (1 - alpha) * x + alpha * _moved(donor, r, g))


def _cut_paste(x: Tensor, donor: Tensor, r: Region, g: torch.Generator) -> Tensor:
    return _inside(x, r, _moved(x, r, g))


def _local_intensity(x: Tensor, donor: Tensor, r: Region, g: torch.Generator) -> Tensor:
    sign = 1.0 if bool(torch.rand((), generator=g) < 0.5) else -1.0
    return _inside(x, r, x + sign * _uniform(0.15, 0.35, g))


def _local_blur(x: Tensor, donor: Tensor, r: Region, g: torch.Generator) -> Tensor:
    return _inside(x, r, gaussian_blur(x, 1.5))


def _local_noise(x: Tensor, donor: Tensor, r: Region, g: torch.Generator) -> Tensor:
    return _inside(x, r, x + 0.15 * torch.randn(x.shape, generator=g, dtype=x.dtype))


def _local_elastic(x: Tensor, donor: Tensor, r: Region, g: torch.Generator) -> Tensor:
    return _inside(x, r, _elastic(x, r, g))


#: ``(image, donor, region, generator) -> image`` changed inside the region only
_LOCAL: dict[str, Callable[[Tensor, Tensor, Region, torch.Generator], Tensor]] = {
    "patch-blend": _patch_blend,
    "cut-paste": _cut_paste,
    "local-intensity": _local_intensity,
    "local-blur": _local_blur,
    "local-noise": _local_noise,
    "local-elastic": _local_elastic,
}


def _global(kind: str, x: Tensor, g: torch.Generator) -> Tensor:
    if kind == "contrast":
        low = bool(torch.rand((), generator=g) < 0.5)
        factor = _uniform(0.5, 0.7, g) if low else _uniform(1.4, 1.8, g)
        return x.mean() + factor * (x - x.mean())
    if kind == "exposure":
        sign = 1.0 if bool(torch.rand((), generator=g) < 0.5) else -1.0
        return x + sign * _uniform(0.1, 0.2, g)
    if kind == "noise":
        return x + 0.08 * torch.randn(x.shape, generator=g, dtype=x.dtype)
    if kind == "blur":
        return gaussian_blur(x, 1.0)
    raise ValueError(f"unknown corruption '{kind}'; corruptions: {', '.join(KINDS)}")


def corrupt(
    images: Tensor,
    donors: Tensor,
    levels: int,
    seed: int,
    kinds: Sequence[str] = KINDS,
) -> Corrupted:
    """One corruption per image, the kinds taken in turn over a seeded shuffle of the images.

    Args:
        images: ``(N, C, H, W)`` normal images in [0, 1].
        donors: ``(M, C, H, W)`` other normal images, the sources of ``patch-blend``.
        levels: intensity levels of the images (results are put back on their grid).
        seed: seeds every random choice.
        kinds: the corruptions to use (default: all of :data:`KINDS`).
    """
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown or not kinds:
        raise ValueError(f"unknown corruption(s) {unknown}; corruptions: {', '.join(KINDS)}")
    if images.ndim != 4 or donors.ndim != 4 or images.shape[1:] != donors.shape[1:]:
        raise ValueError(
            f"images {tuple(images.shape)} and donors {tuple(donors.shape)} must be (N, C, H, W) "
            "of one shape"
        )
    if len(donors) == 0:
        raise ValueError("corruption needs at least one donor image")
    g = torch.Generator().manual_seed(seed)
    n, _, h, w = images.shape
    order = torch.randperm(n, generator=g)
    out = images.clone().to(torch.float32)
    masks = torch.zeros(n, 1, h, w, dtype=torch.bool)
    assigned = [""] * n
    for rank, i in enumerate(order.tolist()):
        kind = kinds[rank % len(kinds)]
        x = out[i]
        if kind in LOCAL:
            region = _region(h, w, g)
            donor = donors[int(torch.randint(0, len(donors), (), generator=g))].to(x.dtype)
            x = _LOCAL[kind](x, donor, region, g)
            top, left, rh, rw = region
            masks[i, :, top : top + rh, left : left + rw] = True
        else:
            x = _global(kind, x, g)
            masks[i] = True
        out[i] = on_grid(x, levels)
        assigned[i] = kind
    return Corrupted(out.to(images.dtype), masks, tuple(assigned))

"""A map of where an image is unusual that needs no network: each pixel's patch against the
patches of normal images at (nearly) the same place.

For every pixel, the ``patch`` x ``patch`` neighbourhood around it (edges reflected) is compared
with the neighbourhoods of the reference normal images at the same position, shifted by up to
``shift`` pixels either way; the map is the Euclidean distance to the nearest of them. This is the
nearest-neighbour form of a density estimate over local patches, conditioned on position, so it
suits images that are roughly aligned (scans, fundus photographs, centred digits): a region that
no normal image shows at that place stands out, while structure that every normal image has
there (ribs, vessels, edges) does not. The whole-image difference
:func:`tasks.anomaly.maps.nearest_normal_maps` is its one-patch special case.

Settings are fixed in advance: one-pixel shifts, at most 1,000 references, and a patch side that
follows the image (:func:`patch_side`: about a fifth of the shorter side, odd, from 3 to 7; 5 for
28x28 scans, 3 for 16x16 and 8x8 digits). They were tried on synthetic local anomalies of the
normal validation images of PneumoniaMNIST, RetinaMNIST, USPS and the 8x8 digits
(``benchmarks/results/anomaly.md``).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

#: shift either way in pixels, most reference images kept
SHIFT, MAX_REFERENCES = 1, 1000
#: the patch side of maps saved before the side followed the image size
LEGACY_PATCH = 5


def patch_side(height: int, width: int) -> int:
    """The neighbourhood side for ``height`` x ``width`` images: the odd number nearest a fifth
    of the shorter side, kept within 3 to 7 (a patch must hold some structure, yet stay local
    and cheap: the distances cost ``side**2`` per reference and offset)."""
    fifth = min(height, width) / 5
    return int(min(7, max(3, 2 * round((fifth - 1) / 2) + 1)))


#: float32 elements of one block of distances (about 128 MB): bounds the memory per step
_BLOCK = 2**25


def _patches(images: Tensor, patch: int) -> Tensor:
    """``(N, C * patch**2, H, W)``: each pixel's neighbourhood, edges reflected."""
    n, _, h, w = images.shape
    pad = patch // 2
    mode = "reflect" if pad < min(h, w) else "replicate"
    padded = F.pad(images.float(), (pad, pad, pad, pad), mode=mode)
    return F.unfold(padded, patch).reshape(n, -1, h, w)


@dataclass(frozen=True)
class PatchNeighbours:
    """Normal reference images and the patch comparison above.

    Attributes:
        references: ``(M, C, H, W)`` float32 normal images in [0, 1].
        patch: neighbourhood side (odd); :func:`patch_side` of the references where not given.
        shift: largest shift, in pixels, between a patch and the references' it is compared with.
    """

    references: Tensor
    patch: int | None = None
    shift: int = SHIFT

    def __post_init__(self) -> None:
        if self.references.ndim != 4 or len(self.references) == 0:
            raise ValueError(
                f"references must be (M, C, H, W) with M >= 1, got {tuple(self.references.shape)}"
            )
        side = patch_side(*self.references.shape[-2:]) if self.patch is None else self.patch
        if side < 1 or side % 2 == 0 or self.shift < 0:
            raise ValueError(
                f"patch must be odd and positive and shift >= 0, got {side}, {self.shift}"
            )
        object.__setattr__(self, "patch", side)

    @classmethod
    def fit(
        cls, normals: Tensor, seed: int, max_references: int = MAX_REFERENCES
    ) -> PatchNeighbours:
        """Keep up to ``max_references`` of ``normals`` (a seeded draw where there are more)."""
        keep = torch.arange(len(normals))
        if len(normals) > max_references:
            g = torch.Generator().manual_seed(seed)
            keep = torch.randperm(len(normals), generator=g)[:max_references].sort().values
        return cls(normals[keep].float().contiguous())

    @property
    def side(self) -> int:
        assert self.patch is not None  # set in __post_init__
        return self.patch

    def maps(self, images: Tensor) -> np.ndarray:
        """``(N, H, W)`` float64: each pixel's distance to its nearest reference patch."""
        if images.shape[1:] != self.references.shape[1:]:
            raise ValueError(
                f"images {tuple(images.shape[1:])} do not match the references "
                f"{tuple(self.references.shape[1:])}"
            )
        n, _, h, w = images.shape
        s = self.shift
        refs = _patches(self.references, self.side)
        m, d = refs.shape[:2]
        refs = F.pad(refs, (s, s, s, s), mode="replicate")
        offsets = list(itertools.product(range(2 * s + 1), repeat=2))
        per_block = max(1, _BLOCK // max(1, m * h * w))  # query images per block
        out = []
        for start in range(0, n, per_block):
            block = images[start : start + per_block]
            q = _patches(block, self.side).reshape(len(block), d, h * w).permute(2, 0, 1)
            q_sq = q.pow(2).sum(-1, keepdim=True)  # (L, n, 1)
            best = torch.full((h * w, len(block)), float("inf"))
            for dy, dx in offsets:  # the references moved by (dy - s, dx - s): (L, D, M)
                r = refs[:, :, dy : dy + h, dx : dx + w].reshape(m, d, h * w).permute(2, 1, 0)
                r_sq = r.pow(2).sum(1, keepdim=True)
                dist = torch.baddbmm(q_sq + r_sq, q, r, alpha=-2.0)  # (L, n, M)
                best = torch.minimum(best, dist.amin(-1))
            out.append(best.clamp_min(0).sqrt().T.reshape(-1, h, w))
        return torch.cat(out).double().numpy() if out else np.empty((0, h, w))

    def save(self, path: str | Path) -> Path:
        """The references as an ``.npy`` file (the settings travel in the detector's state)."""
        path = Path(path)
        np.save(path, self.references.numpy())
        return path

    @classmethod
    def load(
        cls, path: str | Path, patch: int | None = None, shift: int = SHIFT
    ) -> PatchNeighbours:
        """The references :meth:`save` wrote; ``patch`` as for the constructor (a detector passes
        the side it stored)."""
        return cls(torch.from_numpy(np.load(path)), patch, shift)

"""Colour photo patches cut from scikit-image's bundled photos: colour data with no files.

Each photo is resized so its shorter side is ``side`` pixels, then cut into ``patch x patch``
patches. The split is spatial, per photo, so no test pixel is ever seen in training: the rightmost
quarter of the columns is ``test``, the next eighth ``val``, the rest ``train``. Training patches
overlap (stride ``patch // 2``); validation and test patches do not. Labels index the photo.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from genmodels.data.imageset import ImageSet, imageset_from_arrays

PHOTOS: tuple[str, ...] = (
    "astronaut",
    "chelsea",
    "coffee",
    "rocket",
    "immunohistochemistry",
    "retina",
    "hubble_deep_field",
)


def _resized(photo: np.ndarray, side: int) -> np.ndarray:
    h, w = photo.shape[:2]
    scale = side / min(h, w)
    size = (max(side, round(w * scale)), max(side, round(h * scale)))
    return np.asarray(Image.fromarray(photo).resize(size, Image.Resampling.BOX))


def _patches(region: np.ndarray, patch: int, stride: int) -> list[np.ndarray]:
    h, w = region.shape[:2]
    return [
        region[r : r + patch, c : c + patch]
        for r in range(0, h - patch + 1, stride)
        for c in range(0, w - patch + 1, stride)
    ]


def load_photos(patch: int = 16, side: int = 128) -> dict[str, ImageSet]:
    """Patches ``(3, patch, patch)``, 256 levels, splits train/val/test, label = photo index."""
    import skimage.data

    if patch < 4 or side < 4 * patch:
        raise ValueError(f"need patch >= 4 and side >= 4 * patch, got patch={patch}, side={side}")
    parts: dict[str, tuple[list[np.ndarray], list[int]]] = {
        s: ([], []) for s in ("train", "val", "test")
    }
    for label, name in enumerate(PHOTOS):
        photo = _resized(getattr(skimage.data, name)()[..., :3], side)
        w = photo.shape[1]
        test_from, val_from = w - w // 4, w - w // 4 - w // 8
        regions = {
            "train": (photo[:, :val_from], patch // 2),
            "val": (photo[:, val_from:test_from], patch),
            "test": (photo[:, test_from:], patch),
        }
        for split, (region, stride) in regions.items():
            cut = _patches(region, patch, stride)
            parts[split][0].extend(cut)
            parts[split][1].extend([label] * len(cut))
    return {
        split: imageset_from_arrays(
            np.stack(images), np.asarray(labels), f"photos[{split}]", PHOTOS
        )
        for split, (images, labels) in parts.items()
    }

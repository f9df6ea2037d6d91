"""Data sets stored as ``.npz`` with ``<split>_images`` and ``<split>_labels`` keys.

This is the layout of the MedMNIST files (``pneumoniamnist.npz``) and of the USPS copy in
``../shared/data``; any file with the same keys loads the same way.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from genmodels.data.imageset import ImageSet, imageset_from_arrays
from genmodels.errors import DataError

SPLITS = ("train", "val", "test")


def load_npz(path: str | Path, class_names: tuple[str, ...] = ()) -> dict[str, ImageSet]:
    """Load every split present in an npz file.

    Raises:
        DataError: the file is missing or not an npz archive, or holds no ``<split>_images`` key.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile) as err:
        raise DataError(f"{path}: not a readable .npz file ({err})") from None
    with archive:
        keys = set(archive.files)
        splits = [s for s in SPLITS if f"{s}_images" in keys]
        if not splits:
            raise DataError(
                f"{path}: no '<split>_images' arrays (split in {', '.join(SPLITS)}); "
                f"keys found: {', '.join(sorted(keys)) or 'none'}"
            )
        out = {}
        for split in splits:
            labels = archive[f"{split}_labels"] if f"{split}_labels" in keys else None
            out[split] = imageset_from_arrays(
                archive[f"{split}_images"], labels, f"{path.name}[{split}]", class_names
            )
    return out


def load_usps(path: str | Path) -> dict[str, ImageSet]:
    """USPS digits, ``(1, 16, 16)``, splits train/test, labels 0-9."""
    return load_npz(path, tuple(str(d) for d in range(10)))


def load_pneumoniamnist(path: str | Path) -> dict[str, ImageSet]:
    """PneumoniaMNIST chest X-rays ``(1, 28, 28)``; train/val/test; 0 normal, 1 pneumonia."""
    splits = load_npz(path, ("normal", "pneumonia"))
    for name, ims in splits.items():
        if ims.image_shape != (1, 28, 28):
            raise DataError(f"{path}[{name}]: expected 1x28x28 images, got {ims.image_shape}")
    return splits

"""Data sets stored as ``.npz`` with ``<split>_images`` and ``<split>_labels`` keys.

This is the layout of the MedMNIST files (``pneumoniamnist.npz``) and of the USPS copy in
``../shared/data``; any file with the same keys loads the same way.
"""

from __future__ import annotations

import math
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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
        splits = _image_keys(path, keys)
        out = {}
        for split in splits:
            labels = _array(archive, f"{split}_labels", path) if f"{split}_labels" in keys else None
            out[split] = imageset_from_arrays(
                _array(archive, f"{split}_images", path), labels, f"{path.name}[{split}]",
                class_names,
            )  # fmt: skip
    return out


def _array(archive: Any, key: str, path: Path) -> np.ndarray:
    """One array of the archive; arrays of Python objects are refused, never unpickled."""
    try:
        return np.asarray(archive[key])
    except ValueError as err:
        raise DataError(
            f"{path}: array '{key}' cannot be read as numbers ({err}); store plain numeric arrays"
        ) from None


def _image_keys(path: Path, keys: set[str]) -> list[str]:
    splits = [s for s in SPLITS if f"{s}_images" in keys]
    if not splits:
        raise DataError(
            f"{path}: no '<split>_images' arrays (split in {', '.join(SPLITS)}); "
            f"keys found: {', '.join(sorted(keys)) or 'none'}"
        )
    return splits


def _read_header(fh: object, source: str) -> tuple[tuple[int, ...], bool, np.dtype]:
    try:
        major, _ = np.lib.format.read_magic(fh)  # type: ignore[arg-type]
        read = (
            np.lib.format.read_array_header_1_0
            if major == 1
            else np.lib.format.read_array_header_2_0
        )
        shape, fortran, dtype = read(fh)  # type: ignore[arg-type]
    except ValueError as err:
        raise DataError(f"{source}: not a readable .npy array ({err})") from None
    return shape, fortran, dtype


def iter_npz_arrays(
    path: str | Path, batch_size: int
) -> Iterator[tuple[str, tuple[str, ...], np.ndarray]]:
    """``(source, ids, raw rows)`` for every ``<split>_images`` array of an npz file, in chunks
    of ``batch_size`` rows read from the archive (compressed or not) as they are consumed:
    memory holds one chunk, not the array. Ids are ``<file>[<split>]:<index>``, as
    :func:`load_npz` names them; the rows keep the file's dtype."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as err:
        raise DataError(f"{path}: not a readable .npz file ({err})") from None
    with archive:
        names = {n.removesuffix(".npy") for n in archive.namelist()}
        for split in _image_keys(path, names):
            source = f"{path.name}[{split}]"
            with archive.open(f"{split}_images.npy") as fh:
                shape, fortran, dtype = _read_header(fh, source)
                if fortran or dtype.hasobject or not shape:
                    raise DataError(f"{source}: expected a C-ordered numeric image array")
                row_bytes = math.prod(shape[1:]) * dtype.itemsize
                for start in range(0, shape[0], batch_size):
                    n = min(batch_size, shape[0] - start)
                    raw = fh.read(n * row_bytes)
                    if len(raw) != n * row_bytes:
                        raise DataError(f"{source}: the array is truncated")
                    chunk = np.frombuffer(raw, dtype=dtype).reshape(n, *shape[1:])
                    ids = tuple(f"{source}:{i}" for i in range(start, start + n))
                    yield source, ids, chunk


def iter_npz_images(path: str | Path, batch_size: int) -> Iterator[ImageSet]:
    """:func:`iter_npz_arrays` as :class:`ImageSet` chunks (intensities in [0, 1])."""
    for source, ids, chunk in iter_npz_arrays(path, batch_size):
        yield imageset_from_arrays(chunk, None, source, ids=ids)


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

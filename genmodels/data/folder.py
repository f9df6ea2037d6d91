"""A plain folder of images: ``root/<class>/<file>.png`` (a class per sub-folder) or flat files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from genmodels.data.imageset import ImageSet, imageset_from_arrays
from genmodels.errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
_CHANNELS = {"L": 1, "I;16": 1, "I;16B": 1, "I;16L": 1, "I": 1, "RGB": 3}


def read_image(path: Path) -> np.ndarray:
    """One image as ``(H, W)`` or ``(H, W, 3)``; integer dtype of the file's bit depth."""
    try:
        with Image.open(path) as im:
            im.load()
            if im.mode not in _CHANNELS:
                raise DataError(
                    f"{path}: unsupported image mode '{im.mode}'; use grayscale (L, I;16) or RGB"
                )
            arr = np.asarray(im)
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise DataError(f"{path}: corrupt or unreadable image ({err})") from None
    if arr.dtype == np.int32:  # PIL mode "I": 16-bit PNGs often open this way
        arr = arr.astype(np.uint16)
    return arr


def _list_files(root: Path) -> list[tuple[Path, str | None]]:
    subdirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if subdirs:
        return [
            (f, d.name)
            for d in subdirs
            for f in sorted(d.iterdir())
            if f.suffix.lower() in IMAGE_SUFFIXES
        ]
    return [(f, None) for f in sorted(root.iterdir()) if f.suffix.lower() in IMAGE_SUFFIXES]


def load_image_folder(root: str | Path) -> dict[str, ImageSet]:
    """Load every image under ``root`` into one split ``all``.

    All images must share one size and one channel count (1 or 3); 8-bit and 16-bit files are
    accepted (not mixed). A file that breaks a rule raises :class:`DataError` naming it.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: image folder not found")
    files = _list_files(root)
    if not files:
        raise DataError(
            f"{root}: no images ({', '.join(IMAGE_SUFFIXES)}) in the folder or its sub-folders"
        )
    arrays, labels_txt = [], []
    first_shape: tuple[int, ...] | None = None
    first_dtype = None
    for path, label in files:
        arr = read_image(path)
        if first_shape is None:
            first_shape, first_dtype, first_path = arr.shape, arr.dtype, path
        elif arr.shape != first_shape:
            what = "channel count" if arr.shape[:2] == first_shape[:2] else "size"
            raise DataError(
                f"{path}: {what} differs from the folder's first image {first_path.name} "
                f"({_describe(arr.shape)} vs {_describe(first_shape)})"
            )
        elif arr.dtype != first_dtype:
            raise DataError(
                f"{path}: bit depth {arr.dtype} differs from {first_path.name} ({first_dtype})"
            )
        arrays.append(arr)
        labels_txt.append(label)
    stack = np.stack(arrays)
    if stack.ndim == 4:  # (N, H, W, 3)
        stack = stack.transpose(0, 3, 1, 2)
    ids = tuple(str(p.relative_to(root)) for p, _ in files)
    if labels_txt[0] is None:
        return {"all": imageset_from_arrays(stack, None, str(root), ids=ids)}
    names = [t or "" for t in labels_txt]
    class_names = tuple(sorted(set(names)))
    index = {name: i for i, name in enumerate(class_names)}
    labels = np.array([index[t] for t in names])
    return {"all": imageset_from_arrays(stack, labels, str(root), class_names, ids)}


def _describe(shape: tuple[int, ...]) -> str:
    channels = shape[2] if len(shape) == 3 else 1
    return f"{shape[0]}x{shape[1]}, {channels} channel{'s' if channels > 1 else ''}"

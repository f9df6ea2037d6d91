"""A plain folder of images: ``root/<class>/<file>.png`` (a class per sub-folder) or flat files."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from genmodels.data.imageset import ImageSet, imageset_from_arrays
from genmodels.errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
_CHANNELS = {"L": 1, "I;16": 1, "I;16B": 1, "I;16L": 1, "I": 1, "RGB": 3}


#: the most pixels an image file may decode to (a small file can decode to gigabytes); raise it
#: with the environment variable PRIORWORKS_MAX_IMAGE_PIXELS
DEFAULT_MAX_PIXELS = 25_000_000


def max_image_pixels() -> int:
    """The pixel limit in force (``PRIORWORKS_MAX_IMAGE_PIXELS``, else the default)."""
    raw = os.environ.get("PRIORWORKS_MAX_IMAGE_PIXELS", "")
    try:
        return int(raw) if raw else DEFAULT_MAX_PIXELS
    except ValueError:
        raise DataError(
            f"PRIORWORKS_MAX_IMAGE_PIXELS must be a whole number, got '{raw}'"
        ) from None


def read_image(path: Path) -> np.ndarray:
    """One image as ``(H, W)`` or ``(H, W, 3)``; integer dtype of the file's bit depth. Images
    larger than :func:`max_image_pixels` are refused before they are decoded."""
    return _decoded(path, str(path))


def decode_image(data: bytes, name: str) -> np.ndarray:
    """An image file's bytes held in memory (a table cell), decoded as :func:`read_image` decodes
    the file; errors name ``name``."""
    return _decoded(io.BytesIO(data), name)


def _decoded(source: Path | io.BytesIO, name: str) -> np.ndarray:
    limit = max_image_pixels()
    try:
        with Image.open(source) as im:  # reads the header only: the size is known, nothing decoded
            width, height = im.size
            if width * height > limit:
                raise DataError(
                    f"{name}: {width}x{height} pixels is more than the limit of {limit:,} for one "
                    "image (set PRIORWORKS_MAX_IMAGE_PIXELS to allow it, or shrink the image)"
                )
            im.load()
            if im.mode not in _CHANNELS:
                raise DataError(
                    f"{name}: unsupported image mode '{im.mode}'; use grayscale (L, I;16) or RGB"
                )
            arr = np.asarray(im)
    except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError) as err:
        detail = str(err).replace(f" {source!r}", "")  # PIL names a BytesIO by its repr
        raise DataError(f"{name}: corrupt or unreadable image ({detail})") from None
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


class _SameFormat:
    """Remembers the first image's size, channels and bit depth; refuses a file that differs."""

    def __init__(self) -> None:
        self.first: tuple[Path, tuple[int, ...], np.dtype] | None = None

    def __call__(self, path: Path, arr: np.ndarray) -> np.ndarray:
        if self.first is None:
            self.first = (path, arr.shape, arr.dtype)
            return arr
        first_path, first_shape, first_dtype = self.first
        if arr.shape != first_shape:
            what = "channel count" if arr.shape[:2] == first_shape[:2] else "size"
            raise DataError(
                f"{path}: {what} differs from the folder's first image {first_path.name} "
                f"({_describe(arr.shape)} vs {_describe(first_shape)})"
            )
        if arr.dtype != first_dtype:
            raise DataError(
                f"{path}: bit depth {arr.dtype} differs from {first_path.name} ({first_dtype})"
            )
        return arr


def image_files(root: Path) -> list[tuple[Path, str | None]]:
    """``(file, class folder or None)`` for every image under ``root``, in reading order."""
    if not root.is_dir():
        raise DataError(f"{root}: image folder not found")
    files = _list_files(root)
    if not files:
        raise DataError(
            f"{root}: no images ({', '.join(IMAGE_SUFFIXES)}) in the folder or its sub-folders"
        )
    return files


def _nchw(stack: np.ndarray) -> np.ndarray:
    return stack.transpose(0, 3, 1, 2) if stack.ndim == 4 else stack  # (N, H, W, 3) -> NCHW


def one_image(array: np.ndarray, source: str, image_id: str) -> ImageSet:
    """One decoded image (:func:`read_image`, :func:`decode_image`) as a set of one."""
    return imageset_from_arrays(_nchw(array[None]), None, source, ids=(image_id,))


def iter_image_folder(root: str | Path, batch_size: int) -> Iterator[ImageSet]:
    """The images under ``root`` (same rules as :func:`load_image_folder`, labels ignored) in
    chunks of ``batch_size`` files: memory holds one chunk, whatever the folder's size."""
    root = Path(root)
    files = image_files(root)
    check = _SameFormat()
    for start in range(0, len(files), batch_size):
        chunk = [path for path, _ in files[start : start + batch_size]]
        stack = np.stack([check(path, read_image(path)) for path in chunk])
        ids = tuple(str(path.relative_to(root)) for path in chunk)
        yield imageset_from_arrays(_nchw(stack), None, str(root), ids=ids)


def load_image_folder(root: str | Path) -> dict[str, ImageSet]:
    """Load every image under ``root`` into one split ``all``.

    All images must share one size and one channel count (1 or 3); 8-bit and 16-bit files are
    accepted (not mixed). A file that breaks a rule raises :class:`DataError` naming it.
    """
    root = Path(root)
    files = image_files(root)
    check = _SameFormat()
    arrays = [check(path, read_image(path)) for path, _ in files]
    labels_txt = [label for _, label in files]
    stack = _nchw(np.stack(arrays))
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

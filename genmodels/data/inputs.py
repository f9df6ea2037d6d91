"""New images to score with a trained model: any supported file or folder, fitted to the model.

``iter_inputs(path, image_shape, levels, batch_size)`` reads an npz archive, an image file or
folder (PNG, JPEG, TIFF; 8 or 16 bit), or NIfTI/DICOM files, chunk by chunk, and yields
:class:`ImageSet` chunks with the model's image shape and levels: resized with MONAI (area
interpolation) and re-quantized. ``load_inputs`` gathers them in memory. Channel counts must
agree, except that grayscale files are repeated to three channels for colour models.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from monai.transforms import Resize

from genmodels.data.folder import (
    IMAGE_SUFFIXES,
    image_files,
    iter_image_folder,
    one_image,
    read_image,
)
from genmodels.data.imageset import ImageSet, luma, on_grid
from genmodels.data.medical import as_plain_tensor, medical_files, normalize_slices, read_slices
from genmodels.data.npz import iter_npz_images
from genmodels.errors import DataError


def _medical_chunks(path: Path, size: tuple[int, int], batch_size: int) -> Iterator[ImageSet]:
    ids: list[str] = []
    slices: list[np.ndarray] = []
    for file in medical_files(path):
        for slice_id, array in read_slices(file):
            rel = file.relative_to(path) if path.is_dir() else Path(file.name)
            ids.append(str(rel.parent / slice_id) if path.is_dir() else slice_id)
            slices.append(array)
            if len(slices) == batch_size:
                yield ImageSet(normalize_slices(slices, size), None, levels=256, ids=tuple(ids))
                ids, slices = [], []
    if slices:
        yield ImageSet(normalize_slices(slices, size), None, levels=256, ids=tuple(ids))


def _unsupported(path: Path) -> DataError:
    return DataError(
        f"{path}: unsupported input; use .npz, an image ({', '.join(IMAGE_SUFFIXES)}), "
        "NIfTI (.nii, .nii.gz), DICOM (.dcm), or a folder of them"
    )


def input_files(path: str | Path) -> list[tuple[str, Path]]:
    """``(id, file)`` for every file :func:`iter_inputs` would read at ``path`` (not an npz), in
    its order, with the ids it gives (slices of a volume add ``#k`` to their file's id)."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    medical = medical_files(path)
    if medical:
        if path.is_file():
            return [(path.name, path)]
        return [(str(file.relative_to(path)), file) for file in medical]
    if path.is_file():
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            raise _unsupported(path)
        return [(path.name, path)]
    return [(str(file.relative_to(path)), file) for file, _ in image_files(path)]


def _raw_chunks(path: Path, size: tuple[int, int], batch_size: int) -> Iterator[ImageSet]:
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    if path.is_file() and path.suffix.lower() == ".npz":
        yield from iter_npz_images(path, batch_size)
    elif medical_files(path):
        yield from _medical_chunks(path, size, batch_size)
    elif path.is_file():
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            raise _unsupported(path)
        yield one_image(read_image(path), str(path), path.name)
    else:
        yield from iter_image_folder(path, batch_size)


def conform(
    images: ImageSet, image_shape: tuple[int, int, int], levels: int, grayscale: bool = False
) -> ImageSet:
    """Resize and re-quantize ``images`` to a model's ``(C, H, W)`` and ``levels``.

    Gray images are repeated for a colour model; colour images for a gray model are refused,
    unless ``grayscale`` converts them to BT.601 luma.
    """
    c, h, w = image_shape
    x = images.images
    if x.shape[1] != c:
        if x.shape[1] == 1 and c == 3:
            x = x.repeat(1, 3, 1, 1)
        elif grayscale and x.shape[1] == 3 and c == 1:
            x = luma(x)
        else:
            raise DataError(
                f"the inputs have {x.shape[1]} channel(s), the model expects {c}; "
                "convert them (e.g. to grayscale) first"
            )
    if tuple(x.shape[2:]) != (h, w):
        resize = Resize(spatial_size=(h, w), mode="area")
        x = torch.stack([as_plain_tensor(resize(img)) for img in x]).float()
    x = on_grid(x, levels)
    return ImageSet(x, None, levels=levels, ids=images.ids)


def iter_inputs(
    path: str | Path, image_shape: tuple[int, int, int], levels: int, batch_size: int = 256
) -> Iterator[ImageSet]:
    """Everything at ``path`` fitted to the model, in chunks of at most ``batch_size`` images.

    Files are read as the chunks are consumed (npz arrays row by row), so memory stays flat in
    the number of inputs. Raises :class:`DataError` clearly, also when nothing is found.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    found = False
    for chunk in _raw_chunks(Path(path), image_shape[1:], batch_size):
        if len(chunk) == 0:
            continue
        if not torch.isfinite(chunk.images).all():
            raise DataError(f"{path}: the images contain NaN or Inf values")
        found = True
        yield conform(chunk, image_shape, levels)
    if not found:
        raise DataError(f"{path}: no images found")


def load_inputs(path: str | Path, image_shape: tuple[int, int, int], levels: int) -> ImageSet:
    """Read everything at ``path`` and fit it to the model (all in memory; see
    :func:`iter_inputs` to stream). Raises :class:`DataError` clearly."""
    chunks = list(iter_inputs(path, image_shape, levels))
    ids = tuple(i for c in chunks for i in c.ids)
    return ImageSet(torch.cat([c.images for c in chunks]), None, levels=levels, ids=ids)

"""New images to score with a trained model: any supported file or folder, fitted to the model.

``load_inputs(path, image_shape, levels)`` reads an npz archive, an image file or folder (PNG,
JPEG, TIFF; 8 or 16 bit), or NIfTI/DICOM files, and returns an :class:`ImageSet` with the
model's image shape and levels: resized with MONAI (area interpolation) and re-quantized. Channel
counts must agree, except that grayscale files are repeated to three channels for colour models.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from monai.transforms import Resize

from genmodels.data.folder import IMAGE_SUFFIXES, load_image_folder, read_image
from genmodels.data.imageset import ImageSet, imageset_from_arrays
from genmodels.data.medical import as_plain_tensor, medical_files, normalize_slices, read_slices
from genmodels.data.npz import load_npz
from genmodels.errors import DataError


def _concat(sets: dict[str, ImageSet], prefix: str) -> ImageSet:
    names = list(sets)
    images = torch.cat([sets[n].images for n in names])
    ids = tuple(
        i for n in names for i in (sets[n].ids or [f"{n}:{k}" for k in range(len(sets[n]))])
    )
    levels = sets[names[0]].levels
    return ImageSet(images, None, levels=levels, ids=tuple(f"{prefix}{i}" for i in ids))


def _read_any(path: Path, size: tuple[int, int]) -> ImageSet:
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    if path.is_file() and path.suffix.lower() == ".npz":
        return _concat(load_npz(path), "")
    medical = medical_files(path)
    if medical:
        ids, slices = [], []
        for file in medical:
            for slice_id, array in read_slices(file):
                rel = file.relative_to(path) if path.is_dir() else Path(file.name)
                ids.append(str(rel.parent / slice_id) if path.is_dir() else slice_id)
                slices.append(array)
        return ImageSet(normalize_slices(slices, size), None, levels=256, ids=tuple(ids))
    if path.is_file():
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            raise DataError(
                f"{path}: unsupported input; use .npz, an image ({', '.join(IMAGE_SUFFIXES)}), "
                "NIfTI (.nii, .nii.gz), DICOM (.dcm), or a folder of them"
            )
        arr = read_image(path)
        stack = arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)[None]
        return imageset_from_arrays(stack, None, str(path), ids=(path.name,))
    return load_image_folder(path)["all"]


def conform(images: ImageSet, image_shape: tuple[int, int, int], levels: int) -> ImageSet:
    """Resize and re-quantize ``images`` to a model's ``(C, H, W)`` and ``levels``."""
    c, h, w = image_shape
    x = images.images
    if x.shape[1] != c:
        if x.shape[1] == 1 and c == 3:
            x = x.repeat(1, 3, 1, 1)
        else:
            raise DataError(
                f"the inputs have {x.shape[1]} channel(s), the model expects {c}; "
                "convert them (e.g. to grayscale) first"
            )
    if tuple(x.shape[2:]) != (h, w):
        resize = Resize(spatial_size=(h, w), mode="area")
        x = torch.stack([as_plain_tensor(resize(img)) for img in x]).float()
    x = torch.round(x.clamp(0, 1) * (levels - 1)) / (levels - 1)
    return ImageSet(x, None, levels=levels, ids=images.ids)


def load_inputs(path: str | Path, image_shape: tuple[int, int, int], levels: int) -> ImageSet:
    """Read everything at ``path`` and fit it to the model. Raises :class:`DataError` clearly."""
    images = _read_any(Path(path), image_shape[1:])
    if len(images) == 0:
        raise DataError(f"{path}: no images found")
    if not np.isfinite(images.images.numpy()).all():
        raise DataError(f"{path}: the images contain NaN or Inf values")
    return conform(images, image_shape, levels)

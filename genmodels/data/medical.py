"""Medical image files through MONAI: NIfTI volumes and DICOM slices as 2D grayscale images.

A NIfTI file (``.nii``, ``.nii.gz``) holds a 2D image or a 3D volume; a volume becomes one image
per slice along its last axis, with the first array axis as image rows (as stored, no
reorientation). A DICOM file (``.dcm``) is one slice, rows down and columns across as displayed.
Intensities keep their physical range (Hounsfield units, 16-bit counts) until
:func:`normalize_slices` maps each slice to [0, 1] by robust percentiles, as MONAI's
``ScaleIntensityRangePercentiles`` does.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from monai.data import NibabelReader, PydicomReader
from monai.transforms import LoadImage, Resize, ScaleIntensityRangePercentiles

from genmodels.data.imageset import ImageSet
from genmodels.errors import DataError

NIFTI_SUFFIXES = (".nii", ".nii.gz")
DICOM_SUFFIXES = (".dcm",)


def is_medical_file(path: Path) -> bool:
    name = path.name.lower()
    return name.endswith(NIFTI_SUFFIXES) or name.endswith(DICOM_SUFFIXES)


def medical_files(root: Path) -> list[Path]:
    """The NIfTI/DICOM files at ``root`` (a file, or a folder searched recursively), sorted."""
    if root.is_file():
        return [root] if is_medical_file(root) else []
    return sorted(p for p in root.rglob("*") if p.is_file() and is_medical_file(p))


def _is_dicom(path: Path) -> bool:
    return path.name.lower().endswith(DICOM_SUFFIXES)


def _loader(path: Path) -> LoadImage:
    if _is_dicom(path):
        # swap_ij=False keeps DICOM's (rows, columns) as (H, W), the way the image is displayed
        return LoadImage(image_only=True, reader=PydicomReader(swap_ij=False))
    return LoadImage(image_only=True, reader=NibabelReader())


def read_slices(path: Path) -> list[tuple[str, np.ndarray]]:
    """``(id, (H, W) float32)`` for every 2D slice in one file; ids are ``file`` or ``file#k``."""
    kind = "DICOM" if _is_dicom(path) else "NIfTI"
    try:
        data = _loader(path)(str(path))
    except Exception as err:  # MONAI wraps reader errors in several types
        raise DataError(f"{path}: not a readable {kind} file ({err})") from None
    array = np.asarray(data, dtype=np.float32)
    array = np.squeeze(array)
    if array.ndim == 2:
        return [(path.name, array)]
    if array.ndim == 3:
        return [(f"{path.name}#{k}", array[..., k]) for k in range(array.shape[-1])]
    raise DataError(
        f"{path}: expected a 2D image or a 3D volume, got shape {tuple(array.shape)} "
        "(multi-channel or 4D series are not supported)"
    )


def normalize_slices(
    slices: list[np.ndarray],
    size: tuple[int, int],
    lower: float = 0.5,
    upper: float = 99.5,
) -> torch.Tensor:
    """Slices -> ``(N, 1, H, W)`` in [0, 1]: percentile intensity window per slice, then resize.

    A constant slice maps to zeros (no contrast to stretch) instead of dividing by zero.
    """
    window = ScaleIntensityRangePercentiles(lower, upper, 0.0, 1.0, clip=True)
    resize = Resize(spatial_size=size, mode="area")
    out = []
    for s in slices:
        t = torch.as_tensor(s, dtype=torch.float32)[None]
        if float(t.max() - t.min()) == 0.0:
            scaled = torch.zeros_like(t)
        else:
            scaled = as_plain_tensor(window(t))
        out.append(as_plain_tensor(resize(scaled)).clamp(0, 1))
    return torch.stack(out).float()


def as_plain_tensor(x: object) -> torch.Tensor:
    """A plain tensor from MONAI's output (a ``MetaTensor`` carries metadata we do not keep)."""
    t = torch.as_tensor(x)
    return t.as_tensor() if hasattr(t, "as_tensor") else t


def load_medical_folder(root: Path, size: tuple[int, int] | None = None) -> dict[str, ImageSet]:
    """NIfTI/DICOM files under ``root`` as one split ``all``: a class per sub-folder, or none.

    Every slice is windowed to [0, 1] and, with ``size``, resized; without it all slices must
    share one size (the error names the first that does not).
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: medical image folder not found")
    subdirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    groups: list[tuple[str | None, list[Path]]] = [(d.name, medical_files(d)) for d in subdirs]
    groups = groups or [(None, medical_files(root))]
    ids: list[str] = []
    slices: list[np.ndarray] = []
    names: list[str | None] = []
    for name, files in groups:
        for file in files:
            for slice_id, array in read_slices(file):
                if size is None and slices and array.shape != slices[0].shape:
                    raise DataError(
                        f"{file}: slice size {array.shape} differs from {ids[0]} "
                        f"{slices[0].shape}; set data.image_size to resize every slice"
                    )
                ids.append(str(file.parent.relative_to(root) / slice_id))
                slices.append(array)
                names.append(name)
    if not slices:
        raise DataError(f"{root}: no NIfTI (.nii, .nii.gz) or DICOM (.dcm) files")
    h, w = slices[0].shape
    images = normalize_slices(slices, size or (h, w))
    levels = 256
    images = torch.round(images * (levels - 1)) / (levels - 1)
    if names[0] is None:
        return {"all": ImageSet(images, None, levels=levels, ids=tuple(ids))}
    class_names = tuple(sorted({n for n in names if n is not None}))
    labels = torch.tensor([class_names.index(n) for n in names if n is not None])
    return {"all": ImageSet(images, labels, levels=levels, class_names=class_names, ids=tuple(ids))}

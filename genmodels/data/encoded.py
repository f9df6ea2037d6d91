"""One file's bytes held in memory (a cell of a Parquet table, a row of a Spark job) decoded
exactly as the file readers decode it from disk.

:func:`decode_file` gives the same images, ids and levels as :func:`genmodels.data.inputs
.iter_inputs` gives for the file itself, so a distributed job that passes bytes around scores
what the single-process command scores. The kind comes from the name's suffix when it has a known
one, else from the bytes (NumPy, DICOM and NIfTI magic numbers; anything else goes to Pillow).
"""

from __future__ import annotations

import io
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from genmodels.data.folder import IMAGE_SUFFIXES, decode_image, one_image
from genmodels.data.imageset import ImageSet, imageset_from_arrays
from genmodels.data.medical import normalize_slices, read_slices
from genmodels.errors import DataError

_NPY_MAGIC = b"\x93NUMPY"
_GZIP_MAGIC = b"\x1f\x8b"
_NIFTI_MAGICS = (b"n+1\x00", b"ni1\x00")  # NIfTI-1 at byte 344 (NIfTI-2 puts "n+2" at byte 4)


def file_kind(data: bytes, name: str) -> str:
    """``npy``, ``nifti``, ``nifti.gz``, ``dicom`` or ``image``: by suffix, else by content."""
    lower = name.lower()
    if lower.endswith(".npy"):
        return "npy"
    if lower.endswith(".nii.gz"):
        return "nifti.gz"
    if lower.endswith(".nii"):
        return "nifti"
    if lower.endswith(".dcm"):
        return "dicom"
    if lower.endswith(IMAGE_SUFFIXES):
        return "image"
    if data.startswith(_NPY_MAGIC):
        return "npy"
    if data[128:132] == b"DICM":
        return "dicom"
    if data.startswith(_GZIP_MAGIC):
        return "nifti.gz"
    if data[344:348] in _NIFTI_MAGICS or data[4:8] == b"n+2\x00":
        return "nifti"
    return "image"


def encode_npy(array: np.ndarray) -> bytes:
    """One image array as ``.npy`` bytes (its dtype kept), the form npz rows travel in."""
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return buffer.getvalue()


def decode_file(data: bytes, name: str, size: tuple[int, int]) -> ImageSet:
    """The images of one file's bytes, raw (not yet fitted to a model): one for an image or a
    ``.npy`` row, one per slice for NIfTI/DICOM (windowed and resized to ``size`` as
    :func:`genmodels.data.inputs.iter_inputs` does). Ids are ``name``, or ``name#k`` per slice
    of a volume. Raises :class:`DataError` naming ``name`` for bytes that do not decode."""
    if not data:
        raise DataError(f"{name}: empty file")
    kind = file_kind(data, name)
    if kind == "npy":
        try:
            array = np.load(io.BytesIO(data), allow_pickle=False)
        except (ValueError, OSError, EOFError, zipfile.BadZipFile) as err:
            raise DataError(f"{name}: not a readable .npy array ({err})") from None
        return imageset_from_arrays(np.asarray(array)[None], None, name, ids=(name,))
    if kind == "image":
        return one_image(decode_image(data, name), name, name)
    suffix = {"nifti": ".nii", "nifti.gz": ".nii.gz", "dicom": ".dcm"}[kind]
    # MONAI's readers take a path: the bytes go through a private temporary file
    with tempfile.TemporaryDirectory(prefix="priorworks-decode-") as tmp:
        file = Path(tmp) / f"row{suffix}"
        file.write_bytes(data)
        try:
            slices = read_slices(file)
        except DataError as err:
            raise DataError(str(err).replace(str(file), name)) from None
    ids = tuple(slice_id.replace(file.name, name, 1) for slice_id, _ in slices)
    images = normalize_slices([array for _, array in slices], size)
    return ImageSet(images, None, levels=256, ids=ids)

"""Named data sets: one loader per name, each returning ``{split: ImageSet}``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from genmodels.data.archive import load_image_archive
from genmodels.data.embedded import load_digits
from genmodels.data.folder import load_image_folder
from genmodels.data.imageset import ImageSet
from genmodels.data.inputs import conform
from genmodels.data.medical import load_medical_folder
from genmodels.data.medmnist import load_medmnist
from genmodels.data.npz import load_npz, load_pneumoniamnist, load_usps
from genmodels.data.photos import load_photos
from genmodels.errors import DataError, UnknownNameError

_EMBEDDED: dict[str, Callable[[], dict[str, ImageSet]]] = {
    "digits": load_digits,
    "photos": load_photos,
}
_FROM_PATH: dict[str, Callable[[Path], dict[str, ImageSet]]] = {
    "usps": load_usps,
    "pneumoniamnist": load_pneumoniamnist,
    "medmnist": load_medmnist,
    "npz": load_npz,
    "folder": load_image_folder,
    "medical": load_medical_folder,
    "cifar10": lambda path: load_image_folder(path) if path.is_dir() else load_image_archive(path),
}
DATASETS: tuple[str, ...] = tuple(sorted([*_EMBEDDED, *_FROM_PATH]))


def load_dataset(
    name: str, path: str | Path | None = None, image_size: tuple[int, int] | None = None
) -> dict[str, ImageSet]:
    """Load a named data set.

    Args:
        name: one of :data:`DATASETS`.
        path: file or folder for the file-backed data sets (``usps``, ``pneumoniamnist``,
            ``npz``, ``folder``, ``medical``; ``medmnist``: a subset's npz, downloaded if missing;
            ``cifar10``: its tar.gz or an unpacked folder); must be ``None`` for the embedded
            ones (``digits``, ``photos``).
        image_size: ``(H, W)`` to resize every image to (MONAI area interpolation), or None.

    Returns:
        Splits by name: ``all`` for unsplit data, else some of ``train``, ``val``, ``test``.
    """
    if name in _EMBEDDED:
        if path is not None:
            raise DataError(f"dataset '{name}' is embedded and takes no path (got {path})")
        splits = _EMBEDDED[name]()
    elif name == "medical":
        if path is None:
            raise DataError("dataset 'medical' needs a path (data.path: a folder)")
        return load_medical_folder(Path(path).expanduser(), image_size)
    elif name in _FROM_PATH:
        if path is None:
            raise DataError(f"dataset '{name}' needs a path (data.path: a file or folder)")
        splits = _FROM_PATH[name](Path(path).expanduser())
    else:
        raise UnknownNameError("dataset", name, DATASETS)
    if image_size is None:
        return splits
    return {k: _resized(v, image_size) for k, v in splits.items()}


def _resized(images: ImageSet, size: tuple[int, int]) -> ImageSet:
    shape = (images.image_shape[0], *size)
    out = conform(images, shape, images.levels)
    return ImageSet(out.images, images.labels, images.levels, images.class_names, images.ids)

"""Named data sets: one loader per name, each returning ``{split: ImageSet}``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from genmodels.data.embedded import load_digits
from genmodels.data.folder import load_image_folder
from genmodels.data.imageset import ImageSet
from genmodels.data.npz import load_npz, load_pneumoniamnist, load_usps
from genmodels.errors import DataError, UnknownNameError

_EMBEDDED: dict[str, Callable[[], dict[str, ImageSet]]] = {"digits": load_digits}
_FROM_PATH: dict[str, Callable[[Path], dict[str, ImageSet]]] = {
    "usps": load_usps,
    "pneumoniamnist": load_pneumoniamnist,
    "npz": load_npz,
    "folder": load_image_folder,
}
DATASETS: tuple[str, ...] = tuple(sorted([*_EMBEDDED, *_FROM_PATH]))


def load_dataset(name: str, path: str | Path | None = None) -> dict[str, ImageSet]:
    """Load a named data set.

    Args:
        name: one of :data:`DATASETS`.
        path: file or folder for the file-backed data sets (``usps``, ``pneumoniamnist``, ``npz``,
            ``folder``); must be ``None`` for embedded ones.

    Returns:
        Splits by name: ``all`` for unsplit data, else some of ``train``, ``val``, ``test``.
    """
    if name in _EMBEDDED:
        if path is not None:
            raise DataError(f"dataset '{name}' is embedded and takes no path (got {path})")
        return _EMBEDDED[name]()
    if name in _FROM_PATH:
        if path is None:
            raise DataError(f"dataset '{name}' needs a path (data.path: a file or folder)")
        return _FROM_PATH[name](Path(path).expanduser())
    raise UnknownNameError("dataset", name, DATASETS)

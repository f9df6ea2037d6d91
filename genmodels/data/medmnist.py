"""Any 2-D MedMNIST subset, named by its file: ``<flag>.npz`` (28x28) or ``<flag>_<size>.npz``.

An existing file is read like every npz (:func:`genmodels.data.npz.load_npz`). A missing one is
downloaded into its folder by the ``medmnist`` package (``pip install medmnist``; it fetches the
file from Zenodo and checks its MD5), where the package is installed and the network reachable.
The package also supplies the class names (``INFO[flag]["label"]``).
"""

from __future__ import annotations

import re
from pathlib import Path
from types import ModuleType
from typing import Any

from genmodels.data.imageset import ImageSet
from genmodels.data.npz import load_npz
from genmodels.errors import DataError

_FILE_NAME = re.compile(r"^(?P<flag>[a-z]+mnist(?:3d)?)(?:_(?P<size>\d+))?\.npz$")
_MULTI_LABEL = "multi-label, binary-class"


def medmnist_flag(path: Path) -> tuple[str, int]:
    """``(flag, size)`` from a MedMNIST file name, e.g. ``breastmnist_64.npz`` -> (breastmnist, 64).

    Raises:
        DataError: the name is not a MedMNIST file name, or names a 3-D subset.
    """
    match = _FILE_NAME.match(path.name)
    if match is None:
        raise DataError(
            f"{path}: not a MedMNIST file name; expected '<flag>.npz' or '<flag>_<size>.npz' "
            "(e.g. breastmnist.npz, pneumoniamnist_64.npz)"
        )
    flag = match["flag"]
    if flag.endswith("3d"):
        raise DataError(
            f"{path}: '{flag}' holds 3-D volumes; priorworks models take 2-D images "
            "(data.name=medical reads NIfTI/DICOM volumes slice by slice)"
        )
    return flag, int(match["size"] or 28)


def _package() -> ModuleType | None:
    try:
        import medmnist
    except ImportError:
        return None
    return medmnist


def _download(package: ModuleType, info: dict[str, Any], flag: str, size: int, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data_class = getattr(package, info["python_class"])
    try:
        # one split is enough: the package stores all three in the same npz file
        data_class(split="train", download=True, root=str(path.parent), size=size)
    except Exception as err:  # the package raises RuntimeError, torchvision URL and MD5 errors
        raise DataError(f"{path}: downloading '{flag}' (size {size}) failed: {err}") from None
    if not path.is_file():
        raise DataError(f"{path}: the medmnist package did not write this file")


def load_medmnist(path: str | Path) -> dict[str, ImageSet]:
    """Load a 2-D MedMNIST subset from its npz, downloading it first if missing (see module).

    Raises:
        DataError: a name that is not a MedMNIST file, a 3-D or multi-label subset, a missing file
            without the package, a failed download, or a bad file.
    """
    path = Path(path)
    flag, size = medmnist_flag(path)
    package = _package()
    info: dict[str, Any] | None = None
    if package is not None:
        info = package.INFO.get(flag)
        if info is None:
            raise DataError(
                f"{path}: '{flag}' is not a MedMNIST subset the medmnist package knows; "
                f"known: {', '.join(sorted(k for k in package.INFO if not k.endswith('3d')))}"
            )
        if info["task"] == _MULTI_LABEL:
            raise DataError(
                f"{path}: '{flag}' is multi-label (several findings per image); priorworks "
                "needs one class per image"
            )
    if not path.is_file():
        if package is None or info is None:
            raise DataError(
                f"{path}: file not found; download '{path.name}' from MedMNIST (Zenodo) into "
                "that folder, or install the medmnist package (pip install medmnist) and "
                "priorworks downloads it there"
            )
        _download(package, info, flag, size, path)
    names = () if info is None else tuple(info["label"][str(i)] for i in range(len(info["label"])))
    return load_npz(path, names)

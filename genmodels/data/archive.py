"""An image folder inside a ``.tar``/``.tar.gz`` archive, read member by member (no unpacking).

Layout: ``<any prefix>/<class>/<file>.jpg|png`` (the CIFAR-10 copy in ``../shared/data`` is
``train/<class>/NNNN.jpg``). The class is the member's parent folder name.
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image, UnidentifiedImageError

from genmodels.data.folder import IMAGE_SUFFIXES
from genmodels.data.imageset import ImageSet, imageset_from_arrays
from genmodels.errors import DataError


def load_image_archive(path: str | Path) -> dict[str, ImageSet]:
    """Every image of the archive in one split ``all``; labels from the class folders (sorted)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: archive not found")
    arrays: list[np.ndarray] = []
    classes: list[str] = []
    ids: list[str] = []
    try:
        with tarfile.open(path, "r:*") as tar:
            for member in tar:
                name = PurePosixPath(member.name)
                if not member.isfile() or name.suffix.lower() not in IMAGE_SUFFIXES:
                    continue
                handle = tar.extractfile(member)
                if handle is None:
                    continue
                try:
                    with Image.open(io.BytesIO(handle.read())) as im:
                        arrays.append(np.asarray(im.convert("RGB") if im.mode != "L" else im))
                except (UnidentifiedImageError, OSError) as err:
                    raise DataError(f"{path}:{member.name}: corrupt image ({err})") from None
                classes.append(name.parent.name)
                ids.append(member.name)
    except (tarfile.TarError, OSError, EOFError) as err:
        raise DataError(f"{path}: not a readable tar archive ({err})") from None
    if not arrays:
        raise DataError(f"{path}: no images ({', '.join(IMAGE_SUFFIXES)}) in the archive")
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        raise DataError(f"{path}: images of different sizes or channels: {sorted(shapes)[:4]}")
    names = tuple(sorted(set(classes)))
    index = {c: i for i, c in enumerate(names)}
    labels = np.asarray([index[c] for c in classes])
    return {"all": imageset_from_arrays(np.stack(arrays), labels, path.name, names, tuple(ids))}

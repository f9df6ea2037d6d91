"""Content hashes of data, so runs on the same data can be recognized (never the data itself)."""

from __future__ import annotations

import hashlib

from genmodels.data.imageset import ImageSet


def data_fingerprint(splits: dict[str, ImageSet]) -> str:
    """Short sha256 over every split's name, pixels and labels."""
    h = hashlib.sha256()
    for name in sorted(splits):
        ims = splits[name]
        h.update(name.encode())
        h.update(str(tuple(ims.images.shape)).encode())
        h.update(ims.images.contiguous().numpy().tobytes())
        if ims.labels is not None:
            h.update(ims.labels.contiguous().numpy().tobytes())
    return h.hexdigest()[:16]

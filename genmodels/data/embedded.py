"""Data sets that ship inside installed packages: no files, no downloads."""

from __future__ import annotations

import numpy as np

from genmodels.data.imageset import ImageSet, imageset_from_arrays


def load_digits() -> dict[str, ImageSet]:
    """scikit-learn's 1797 handwritten digits, ``(1, 8, 8)``, 17 levels (0..16), labels 0-9.

    Returns a single split ``all``; protocols split it with a seed.
    """
    from sklearn.datasets import load_digits as sk_load_digits

    bunch = sk_load_digits()
    images = (bunch.images / 16.0).astype(np.float32)
    ims = imageset_from_arrays(images, bunch.target, "digits", tuple(str(d) for d in range(10)))
    # 0..16 integer counts: 17 levels, not the 256 assumed for floats.
    return {"all": ImageSet(ims.images, ims.labels, 17, ims.class_names, ims.ids)}

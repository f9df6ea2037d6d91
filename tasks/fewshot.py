"""The low-data protocol shared by the tasks: k labelled real images per class, drawn with a seed.

Only the labelled pool (the data set's training split) is ever drawn from; the test split is
passed separately and used only to measure accuracy. The k-per-class subset is split again into
the images the generator and the classifier fit on and a small real validation set for the
classifier's early stopping.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from genmodels.data.imageset import ImageSet
from genmodels.errors import DataError


@dataclass(frozen=True)
class FewShot:
    """One draw of the protocol.

    Attributes:
        fit: the labelled real images the generator and every classifier train on.
        val: real labelled images for the classifier's early stopping (never for the generator).
        k: images per class drawn (``fit`` + ``val``); ``None`` for the whole pool.
    """

    fit: ImageSet
    val: ImageSet
    k: int | None


def draw_few_shot(pool: ImageSet, k: int | None, seed: int, val_fraction: float = 0.2) -> FewShot:
    """Draw ``k`` images per class from ``pool`` (all of it for ``k=None``), stratified, seeded.

    At least one image per class goes to validation, and at least one stays for fitting.

    Raises:
        DataError: the pool has no labels, or a class has fewer than ``k`` (or 2) images.
    """
    if pool.labels is None:
        raise DataError("the few-shot protocol needs labelled images")
    rng = np.random.default_rng(seed)
    labels = pool.labels.numpy()
    fit_idx: list[int] = []
    val_idx: list[int] = []
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        take = len(members) if k is None else k
        if take > len(members) or take < 2:
            raise DataError(
                f"class {int(c)} has {len(members)} labelled images; k={k} needs at least "
                f"{max(take, 2)} (k >= 2: one to fit, one to validate)"
            )
        chosen = rng.permutation(members)[:take]
        n_val = min(max(1, round(take * val_fraction)), take - 1)
        val_idx.extend(chosen[:n_val])
        fit_idx.extend(chosen[n_val:])
    return FewShot(pool.subset(np.sort(fit_idx)), pool.subset(np.sort(val_idx)), k)


def with_images(base: ImageSet, extra_images: torch.Tensor, extra_labels: torch.Tensor) -> ImageSet:
    """``base`` plus extra labelled images (generated ones), same levels."""
    if base.labels is None:
        raise DataError("cannot add labelled images to an unlabelled set")
    return ImageSet(
        torch.cat([base.images, extra_images.to(base.images.dtype)]),
        torch.cat([base.labels, extra_labels.long()]),
        levels=base.levels,
        class_names=base.class_names,
    )

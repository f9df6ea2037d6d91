"""Seeded, stratified train/val/test splits for data sets that come without them."""

from __future__ import annotations

import math

import numpy as np
import torch
from sklearn.model_selection import train_test_split

from genmodels.data.imageset import ImageSet
from genmodels.errors import DataError


def _split(ims: ImageSet, fraction: float | int, seed: int) -> tuple[ImageSet, ImageSet]:
    index = np.arange(len(ims))
    held = int(fraction) if isinstance(fraction, int) else math.ceil(fraction * len(ims))
    if held < 1 or len(ims) - held < 1:
        raise DataError(
            f"{len(ims)} image(s) cannot be split {len(ims) - held} / {held} (fraction "
            f"{fraction}): every split needs at least one image; give more images"
        )
    stratify = None
    if ims.labels is not None:
        counts = torch.bincount(ims.labels)
        classes = int((counts > 0).sum())
        enough = min(held, len(ims) - held) >= classes and int(counts[counts > 0].min()) >= 2
        stratify = ims.labels.numpy() if enough else None
    keep, held = train_test_split(index, test_size=fraction, random_state=seed, stratify=stratify)
    return ims.subset(np.sort(keep)), ims.subset(np.sort(held))


def ensure_splits(
    splits: dict[str, ImageSet], val_fraction: float, test_fraction: float, seed: int
) -> dict[str, ImageSet]:
    """Return ``train``, ``val`` and ``test`` splits, carving missing ones with a seed.

    Official splits are kept as they are; ``all`` is split into the three; a missing ``test`` is
    carved from ``train`` (``test_fraction`` of it), then a missing ``val`` from what is left
    (``val_fraction`` of the whole). Stratified by label where labels exist.
    """
    for name, fraction in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0.0 < fraction < 1.0:
            raise DataError(f"{name} must be in (0, 1), got {fraction}")
    out = dict(splits)
    if "all" in out:
        rest, out["test"] = _split(out.pop("all"), test_fraction, seed)
        out["train"], out["val"] = _split(rest, val_fraction / (1.0 - test_fraction), seed)
    if "train" not in out:
        raise DataError(f"need a 'train' split (or 'all'); got {', '.join(sorted(out)) or 'none'}")
    if "test" not in out:
        whole = test_fraction + (0.0 if "val" in out else val_fraction)
        if whole >= 1.0:
            raise DataError(
                f"val_fraction {val_fraction} and test_fraction {test_fraction} leave nothing to "
                "train on"
            )
        out["train"], out["test"] = _split(out["train"], test_fraction, seed)
        if "val" not in out:
            share = val_fraction / (1.0 - test_fraction)
            out["train"], out["val"] = _split(out["train"], share, seed)
    if "val" not in out:
        out["train"], out["val"] = _split(out["train"], val_fraction, seed)
    return {k: out[k] for k in ("train", "val", "test")}


def subsample(ims: ImageSet, max_images: int | None, seed: int) -> ImageSet:
    """At most ``max_images`` images, drawn with a seed (stratified by label where possible)."""
    if max_images is None or len(ims) <= max_images:
        return ims
    if max_images < 1:
        raise DataError(f"max_images must be >= 1, got {max_images}")
    return _split(ims, max_images, seed)[1]  # an int test_size: exactly max_images


def carve_splits(
    splits: dict[str, ImageSet],
    val_fraction: float,
    test_fraction: float,
    seed: int,
    max_images: int | None = None,
) -> dict[str, ImageSet]:
    """:func:`ensure_splits`, then each split capped at ``max_images`` (a seeded draw): what a
    pipeline's ``data`` section does, so code outside the pipelines gets the same test split."""
    carved = ensure_splits(splits, val_fraction, test_fraction, seed)
    return {k: subsample(v, max_images, seed) for k, v in carved.items()}

"""The data section of a spec, loaded: named data set -> train/val/test splits, capped if asked."""

from __future__ import annotations

from genmodels.data import ImageSet, carve_splits, load_dataset
from pipelines.spec import DataSpec


def load_splits(data: DataSpec) -> dict[str, ImageSet]:
    """Load ``data.name``, carve missing splits with ``data.split_seed``, cap each at
    ``data.max_images`` (a seeded, stratified draw)."""
    return carve_splits(
        load_dataset(data.name, data.path, data.image_size),
        data.val_fraction,
        data.test_fraction,
        data.split_seed,
        data.max_images,
    )

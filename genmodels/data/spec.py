"""The ``data`` section of a spec (which images, how to split them) and its loading."""

from __future__ import annotations

from pydantic import Field, field_validator

from genmodels.data.catalog import DATASETS, load_dataset
from genmodels.data.imageset import ImageSet
from genmodels.data.splits import carve_splits
from genmodels.settings import Section


class DataSpec(Section):
    """Which images to use and how to split data sets that come without splits."""

    name: str = "digits"
    path: str | None = None
    val_fraction: float = Field(0.2, gt=0, lt=1)
    test_fraction: float = Field(0.3, gt=0, lt=1)
    split_seed: int = 0
    image_size: tuple[int, int] | None = None  # resize every image (H, W); medical slices too
    max_images: int | None = Field(None, ge=1)  # cap each split (seeded, stratified draw)

    @field_validator("image_size")
    @classmethod
    def _positive_size(cls, v: tuple[int, int] | None) -> tuple[int, int] | None:
        if v is not None and min(v) < 2:
            raise ValueError(f"image_size must be two sizes >= 2, got {list(v)}")
        return v

    @field_validator("name")
    @classmethod
    def _known_dataset(cls, v: str) -> str:
        if v not in DATASETS:
            raise ValueError(f"unknown dataset '{v}'; valid datasets: {', '.join(DATASETS)}")
        return v


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

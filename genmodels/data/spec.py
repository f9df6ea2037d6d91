"""The ``data`` section of a spec (which images, how to split them) and its loading."""

from __future__ import annotations

from pydantic import Field, field_validator

from genmodels.data.catalog import DATASETS, load_dataset
from genmodels.data.imageset import ImageSet, concatenate, to_gray
from genmodels.data.splits import carve_splits
from genmodels.errors import DataError
from genmodels.settings import Section


def _known(name: str) -> str:
    if name not in DATASETS:
        raise ValueError(f"unknown dataset '{name}'; valid datasets: {', '.join(DATASETS)}")
    return name


def _checked_size(size: tuple[int, int] | None) -> tuple[int, int] | None:
    if size is not None and min(size) < 2:
        raise ValueError(f"image_size must be two sizes >= 2, got {list(size)}")
    return size


class HeldOutSource(Section):
    """A separate source of test images (``data.test``): the source's own ``test`` split if it
    has one, else all its images. It replaces the test split of ``data``."""

    name: str
    path: str | None = None
    image_size: tuple[int, int] | None = None  # resize its images (default: data.image_size)

    @field_validator("name")
    @classmethod
    def _known_dataset(cls, v: str) -> str:
        return _known(v)

    @field_validator("image_size")
    @classmethod
    def _positive_size(cls, v: tuple[int, int] | None) -> tuple[int, int] | None:
        return _checked_size(v)


class DataSpec(Section):
    """Which images to use and how to split data sets that come without splits."""

    name: str = "digits"
    path: str | None = None
    test: HeldOutSource | None = None  # test images from elsewhere (a user's folder, an archive)
    val_fraction: float = Field(0.2, gt=0, lt=1)
    test_fraction: float = Field(0.3, gt=0, lt=1)
    split_seed: int = 0
    image_size: tuple[int, int] | None = None  # resize every image (H, W); medical slices too
    max_images: int | None = Field(None, ge=1)  # cap each split (seeded, stratified draw)
    grayscale: bool = False  # colour images to BT.601 luma, one channel (gray ones unchanged)

    @field_validator("image_size")
    @classmethod
    def _positive_size(cls, v: tuple[int, int] | None) -> tuple[int, int] | None:
        return _checked_size(v)

    @field_validator("name")
    @classmethod
    def _known_dataset(cls, v: str) -> str:
        return _known(v)


def _test_images(data: DataSpec, source: HeldOutSource, like: ImageSet) -> ImageSet:
    """The test source's images, checked against the training images ``like``."""
    size = source.image_size if source.image_size is not None else data.image_size
    splits = load_dataset(source.name, source.path, size)
    if "test" in splits:
        images = splits["test"]
    else:
        parts = list(splits.values())
        images = parts[0] if len(parts) == 1 else concatenate(parts)
    where = f"data.test ({source.name}{f' at {source.path}' if source.path else ''})"
    if images.image_shape != like.image_shape:
        raise DataError(
            f"{where} has images of shape {list(images.image_shape)}, the training images "
            f"{list(like.image_shape)}; set data.test.image_size (or data.image_size) so they match"
        )
    if images.levels != like.levels:
        raise DataError(
            f"{where} has {images.levels} intensity levels, the training images {like.levels}"
        )
    return images


def load_splits(data: DataSpec) -> dict[str, ImageSet]:
    """Load ``data.name``, carve missing splits with ``data.split_seed``, cap each at
    ``data.max_images`` (a seeded, stratified draw), and with ``data.grayscale`` make colour
    images luma. With ``data.test``, the test split comes
    from that source instead (the main source's own test split, if any, is not used; only
    ``val`` is carved from it)."""
    splits = load_dataset(data.name, data.path, data.image_size)
    if data.test is not None:
        splits = {k: v for k, v in splits.items() if k != "test"}
        if "all" in splits:
            splits["train"] = splits.pop("all")
        if "train" not in splits:
            raise DataError(f"data '{data.name}' has no training images besides its test split")
        splits["test"] = _test_images(data, data.test, splits["train"])
    carved = carve_splits(
        splits, data.val_fraction, data.test_fraction, data.split_seed, data.max_images
    )
    return {k: to_gray(v) for k, v in carved.items()} if data.grayscale else carved

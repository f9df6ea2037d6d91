"""The building blocks every spec section shares, and the ``data`` section that several tasks
(and the anomaly background) use."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from genmodels.data.catalog import DATASETS


class Section(BaseModel):
    """A spec section: unknown keys are refused, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def existing_file(path: str | None, key: str) -> str | None:
    """``path`` unchanged if it is None or names a file; else a ValueError naming ``key``."""
    if path is not None and not Path(path).expanduser().is_file():
        raise ValueError(f"{key}: no such file '{path}'")
    return path


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

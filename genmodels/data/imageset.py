"""The in-memory form every loader returns, and the checks every array passes through."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import numpy as np
import torch
from torch import Tensor

from genmodels.errors import DataError

#: ITU-R BT.601 luma weights of R, G, B (what "gray" means everywhere in priorworks).
LUMA = (0.299, 0.587, 0.114)


def on_grid(x: Tensor, levels: int) -> Tensor:
    """``x`` clamped to ``[0, 1]`` and rounded to the nearest of ``levels`` evenly spaced
    values (the intensity grid of images with that many levels)."""
    return torch.round(x.clamp(0, 1) * (levels - 1)) / (levels - 1)


def luma(rgb: Tensor) -> Tensor:
    """``(B, 3, H, W)`` colour -> ``(B, 1, H, W)`` BT.601 luma."""
    w = torch.tensor(LUMA, dtype=rgb.dtype, device=rgb.device).view(1, 3, 1, 1)
    return (rgb * w).sum(1, keepdim=True)


@dataclass(frozen=True)
class ImageSet:
    """A set of images with optional labels.

    Attributes:
        images: ``(N, C, H, W)`` float32 in ``[0, 1]``.
        labels: ``(N,)`` int64 class indices, or ``None`` when unknown.
        levels: number of distinct intensity levels of the source (256 for 8-bit images).
        class_names: names of the label values, index = label.
        ids: a stable identifier per image (file name or ``split:index``).
    """

    images: Tensor
    labels: Tensor | None
    levels: int
    class_names: tuple[str, ...] = ()
    ids: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        n = self.images.shape[0]
        if self.labels is not None and self.labels.shape != (n,):
            raise DataError(f"labels have shape {tuple(self.labels.shape)}, expected ({n},)")
        if self.ids and len(self.ids) != n:
            raise DataError(f"{len(self.ids)} ids for {n} images")

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def image_shape(self) -> tuple[int, int, int]:
        c, h, w = self.images.shape[1:]
        return int(c), int(h), int(w)

    def subset(self, index: np.ndarray | Tensor) -> ImageSet:
        idx = torch.as_tensor(np.asarray(index), dtype=torch.long)
        return ImageSet(
            images=self.images[idx],
            labels=None if self.labels is None else self.labels[idx],
            levels=self.levels,
            class_names=self.class_names,
            ids=tuple(self.ids[i] for i in idx.tolist()) if self.ids else (),
        )


def to_gray(images: ImageSet) -> ImageSet:
    """Colour images as BT.601 luma on their own intensity grid (one channel); gray images as
    they are. Labels, class names and ids are kept."""
    if images.image_shape[0] == 1:
        return images
    if images.image_shape[0] != 3:
        raise DataError(f"cannot make {images.image_shape[0]}-channel images gray: RGB expected")
    gray = on_grid(luma(images.images), images.levels)
    return replace(images, images=gray.to(images.images.dtype))


def concatenate(parts: list[ImageSet]) -> ImageSet:
    """One set of several of the same image shape and levels (labels kept where all have them;
    class names must then agree)."""
    if not parts:
        raise DataError("nothing to concatenate")
    first = parts[0]
    for other in parts[1:]:
        if other.image_shape != first.image_shape or other.levels != first.levels:
            raise DataError(
                f"cannot join images of shape {list(other.image_shape)} ({other.levels} levels) "
                f"to {list(first.image_shape)} ({first.levels} levels)"
            )
    labelled = all(p.labels is not None for p in parts) and all(
        p.class_names == first.class_names for p in parts
    )
    return ImageSet(
        images=torch.cat([p.images for p in parts]),
        labels=torch.cat([p.labels for p in parts if p.labels is not None]) if labelled else None,
        levels=first.levels,
        class_names=first.class_names if labelled else (),
        ids=sum((p.ids for p in parts), ()) if all(p.ids for p in parts) else (),
    )


def to_unit_float(array: np.ndarray, source: str) -> tuple[np.ndarray, int]:
    """Convert an integer or float image array to float32 in ``[0, 1]``; return it with its levels.

    Integer arrays are divided by the maximum of their dtype (uint8 -> 256 levels, uint16 -> 65536
    levels); float arrays must already lie in ``[0, 1]`` and are treated as 8-bit. NaN/Inf and
    out-of-range values raise :class:`DataError` naming ``source``.
    """
    if array.size == 0:
        raise DataError(f"{source}: no images")
    if np.issubdtype(array.dtype, np.integer):
        info = np.iinfo(array.dtype)
        if array.min() < 0:
            raise DataError(f"{source}: negative pixel values in an integer image array")
        top = info.max if info.max <= 65535 else int(array.max()) or 1
        return (array.astype(np.float32) / top), int(top) + 1
    if np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all():
            bad = int((~np.isfinite(array)).reshape(array.shape[0], -1).any(1).sum())
            raise DataError(f"{source}: {bad} image(s) contain NaN or Inf values")
        lo, hi = float(array.min()), float(array.max())
        if lo < 0.0 or hi > 1.0:
            raise DataError(
                f"{source}: float pixel values must lie in [0, 1], found [{lo:.4g}, {hi:.4g}]"
            )
        return array.astype(np.float32), 256
    raise DataError(f"{source}: unsupported pixel dtype {array.dtype}")


def to_nchw(array: np.ndarray, source: str) -> np.ndarray:
    """Accept ``(N, H, W)``, ``(N, C, H, W)`` or ``(N, H, W, C)`` (C in 1, 3); return NCHW."""
    if array.ndim == 3:
        return array[:, None]
    if array.ndim == 4:
        if array.shape[1] in (1, 3):
            return array
        if array.shape[3] in (1, 3):
            return np.ascontiguousarray(array.transpose(0, 3, 1, 2))
        raise DataError(
            f"{source}: cannot tell the channel axis of shape {array.shape}; use 1 or 3 channels"
        )
    raise DataError(
        f"{source}: expected images of shape (N, H, W) or (N, C, H, W), got {array.shape}"
    )


#: the most classes a labelled data set may have (labels are class indices 0..MAX_CLASSES-1)
MAX_CLASSES = 100_000


def checked_labels(labels: np.ndarray, source: str) -> np.ndarray:
    """``labels`` as int64 class indices; a DataError naming ``source`` for labels that are not
    whole numbers, negative, or beyond :data:`MAX_CLASSES` (class indices count from 0)."""
    if labels.dtype.kind not in "biuf":
        raise DataError(f"{source}: labels must be integers, got {labels.dtype} values")
    if labels.dtype.kind == "f":
        whole = np.isfinite(labels) & (labels == np.round(labels))
        if not whole.all():
            bad = labels[~whole][:3].tolist()
            raise DataError(f"{source}: labels must be whole class numbers, got {bad}")
    if labels.size and (labels.min() < 0 or labels.max() >= MAX_CLASSES):
        raise DataError(
            f"{source}: labels must be class indices from 0 to {MAX_CLASSES - 1}, found "
            f"{labels.min()} to {labels.max()}"
        )
    return labels.astype(np.int64)


def imageset_from_arrays(
    images: np.ndarray,
    labels: np.ndarray | None,
    source: str,
    class_names: tuple[str, ...] = (),
    ids: tuple[str, ...] = (),
) -> ImageSet:
    """Validate raw arrays and build an :class:`ImageSet`."""
    unit, levels = to_unit_float(to_nchw(np.asarray(images), source), source)
    label_tensor = None
    if labels is not None:
        labels = np.asarray(labels).reshape(-1)
        if labels.shape[0] != unit.shape[0]:
            raise DataError(f"{source}: {labels.shape[0]} labels for {unit.shape[0]} images")
        label_tensor = torch.as_tensor(checked_labels(labels, source))
    if not ids:
        ids = tuple(f"{source}:{i}" for i in range(unit.shape[0]))
    return ImageSet(torch.from_numpy(unit), label_tensor, levels, class_names, ids)


def labelled_classes(sets: Mapping[str, ImageSet], task: str, why: str = "") -> int:
    """The number of classes of labelled splits (the highest label + 1); a
    :class:`~genmodels.errors.DataError` naming ``task`` when a split has no labels."""
    unlabelled = [name for name, s in sets.items() if s.labels is None]
    if unlabelled:
        raise DataError(
            f"task '{task}' needs labelled {', '.join(sets)} images{why}; "
            f"{', '.join(unlabelled)} has none"
        )
    return max(int(s.labels.max()) for s in sets.values() if s.labels is not None) + 1

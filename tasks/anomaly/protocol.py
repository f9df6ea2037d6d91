"""The one-class protocol: fit on normal data only, calibrate on normal data, test on all."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from genmodels.data.imageset import ImageSet
from genmodels.errors import DataError


@dataclass(frozen=True)
class OneClassSplit:
    """Data of one anomaly-detection experiment.

    Attributes:
        train: normal training images (the generative model sees only these).
        val: normal validation images (early stopping and threshold calibration).
        test: all test images.
        test_is_anomaly: ``(N_test,)`` bool, True where the label is not a normal class (all
            False for data without anomalies: test metrics are then the false-positive rate
            only).
        val_anomalous: the validation split's images of the other classes, ``None`` when it has
            none. Nothing is fitted or calibrated on them; they only *select* among detectors
            (validation AUROC), so the test split is never used to choose.
    """

    train: ImageSet
    val: ImageSet
    test: ImageSet
    test_is_anomaly: np.ndarray
    normal_classes: tuple[int, ...]
    val_anomalous: ImageSet | None = None

    @property
    def test_has_both(self) -> bool:
        """Whether the test split holds normal and anomalous images (AUROC is defined)."""
        return bool(self.test_is_anomaly.any() and not self.test_is_anomaly.all())

    def require_test_anomalous(self, why: str) -> None:
        """A DataError naming ``why`` when the test split holds no anomalous images."""
        if not self.test_is_anomaly.any():
            raise DataError(
                f"{why} needs anomalous images in the test split, but it holds only normal ones"
            )

    def require_val_anomalous(self, why: str) -> ImageSet:
        """The validation split's anomalous images, or a DataError naming ``why`` they were
        needed when there are none."""
        if self.val_anomalous is None:
            raise DataError(
                f"{why} needs anomalous images in the validation split, but it holds only the "
                f"normal classes {list(self.normal_classes)}"
            )
        return self.val_anomalous


def _normal_only(ims: ImageSet, normal: torch.Tensor, split: str) -> ImageSet:
    assert ims.labels is not None
    keep = torch.isin(ims.labels, normal).nonzero().flatten().numpy()
    if keep.size == 0:
        raise DataError(f"split '{split}' holds no images of the normal classes")
    return ims.subset(keep)


def _all_normal(ims: ImageSet, normal: int) -> ImageSet:
    """An unlabelled split: every image is normal."""
    labels = torch.full((len(ims),), normal, dtype=torch.long)
    return ImageSet(ims.images, labels, ims.levels, ims.class_names, ims.ids)


def one_class_split(splits: dict[str, ImageSet], normal_classes: Sequence[int]) -> OneClassSplit:
    """Build the protocol from ``train``/``val``/``test`` splits.

    Labels say which images are normal. A split without labels (a folder of images with no class
    sub-folders, say) is taken to hold normal images only: a user's usual case. The test split
    may hold normal images only; the test metrics are then the false-positive rate alone.
    """
    unlabelled = [name for name in ("train", "val", "test") if splits[name].labels is None]
    if unlabelled:
        if len(normal_classes) != 1:
            raise DataError(
                f"splits {unlabelled} have no labels, so every image in them is normal; name one "
                f"normal class (task.normal_classes=[0]), not {list(normal_classes)}"
            )
        splits = {
            name: _all_normal(ims, normal_classes[0]) if name in unlabelled else ims
            for name, ims in splits.items()
        }
    present = sorted(set(splits["train"].labels.tolist()))  # type: ignore[union-attr]
    unknown = sorted(set(normal_classes) - set(present))
    if not normal_classes or unknown:
        raise DataError(
            f"normal classes {list(normal_classes)} not all in the data; labels present: {present}"
        )
    normal = torch.as_tensor(list(normal_classes))
    test = splits["test"]
    is_anomaly = (~torch.isin(test.labels, normal)).numpy()  # type: ignore[arg-type]
    if is_anomaly.all():
        raise DataError("the test split holds no images of the normal classes")
    val = splits["val"]
    other = (~torch.isin(val.labels, normal)).nonzero().flatten().numpy()  # type: ignore[arg-type]
    return OneClassSplit(
        train=_normal_only(splits["train"], normal, "train"),
        val=_normal_only(val, normal, "val"),
        test=test,
        test_is_anomaly=is_anomaly,
        normal_classes=tuple(int(c) for c in normal_classes),
        val_anomalous=val.subset(other) if other.size else None,
    )


def reference_calibration_split(
    n: int, reference_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Disjoint indices ``(reference, calibration)`` into ``n`` normal validation images.

    Scores with fitted state (a typical value, standardization) learn it on the reference part;
    the conformal threshold uses only the calibration part, so calibration scores stay
    exchangeable with normal test scores.
    """
    if not 0.0 < reference_fraction < 1.0:
        raise ValueError(f"reference_fraction must be in (0, 1), got {reference_fraction}")
    order = np.random.default_rng(seed).permutation(n)
    k = round(n * reference_fraction)
    if k < 1 or n - k < 1:
        raise DataError(
            f"{n} normal validation images cannot be split into reference and calibration "
            f"parts with reference_fraction={reference_fraction}"
        )
    return np.sort(order[:k]), np.sort(order[k:])

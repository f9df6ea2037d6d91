"""The data layer: named loaders returning images ``(N, C, H, W)`` in ``[0, 1]`` with labels."""

from genmodels.data.catalog import DATASETS, load_dataset
from genmodels.data.imageset import ImageSet, imageset_from_arrays
from genmodels.data.splits import carve_splits, ensure_splits

__all__ = [
    "DATASETS",
    "ImageSet",
    "carve_splits",
    "ensure_splits",
    "imageset_from_arrays",
    "load_dataset",
]

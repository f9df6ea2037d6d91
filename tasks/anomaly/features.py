"""A map of where an image is unusual in the eyes of the detector's own network: what the model
computes about each place (``local_features``, a LOCAL_FEATURES model: for a flow, its coupling
conditioners' hidden maps at the coarser scales), compared with what it computes at the same place
of normal images.

Each pixel's feature vector is compared with the reference normal images' vectors at the same
position, shifted by up to one pixel either way, and the map is the Euclidean distance to the
nearest (the patch-neighbour comparison of :mod:`tasks.anomaly.patch_neighbours` with one-pixel
patches, on features instead of pixels). The features are divided by one number, their standard
deviation over the references, so that the distances do not depend on the network's scale.

The network was trained on the normal images, so its features describe the textures and shapes
of normal regions: a region that is locally blurred or warped still finds a close patch of
pixels somewhere in the references, but it no longer yields the features a normal region yields
there. Settings are fixed in advance: at most :data:`MAX_FEATURE_REFERENCES` references, spread
evenly over the detector's patch references (the network's features cost far more per pixel than
pixels do), one-pixel shifts. They were tried on synthetic local anomalies of the normal
validation images of PneumoniaMNIST, RetinaMNIST, USPS and the 8x8 digits
(``benchmarks/results/anomaly.md``).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from genmodels.contract import GenerativeModel
from tasks.anomaly.patch_neighbours import PatchNeighbours

#: most reference images whose features a map compares against
MAX_FEATURE_REFERENCES = 400
#: images per forward pass of the network
_BATCH = 64


def _features(model: GenerativeModel, images: Tensor) -> Tensor:
    model.eval()
    out = [
        model.local_features(images[s : s + _BATCH].to(torch.get_default_dtype())).float()
        for s in range(0, len(images), _BATCH)
    ]
    return torch.cat(out)


def feature_references(references: Tensor) -> Tensor:
    """At most :data:`MAX_FEATURE_REFERENCES` of ``references``, evenly spread over them."""
    if len(references) <= MAX_FEATURE_REFERENCES:
        return references
    keep = torch.linspace(0, len(references) - 1, MAX_FEATURE_REFERENCES).round().long()
    return references[keep]


def feature_maps(model: GenerativeModel, images: Tensor, references: Tensor) -> np.ndarray:
    """``(N, H, W)`` float64: each pixel's distance from its features to the nearest features of
    the reference normal images ``(M, C, H, W)`` at (nearly) the same place."""
    if images.shape[1:] != references.shape[1:]:
        raise ValueError(
            f"images {tuple(images.shape[1:])} do not match the references "
            f"{tuple(references.shape[1:])}"
        )
    if len(images) == 0:
        return np.empty((0, *images.shape[-2:]))
    reference = _features(model, feature_references(references))
    scale = float(reference.std()) or 1.0
    neighbours = PatchNeighbours(reference / scale, patch=1)
    return neighbours.maps(_features(model, images) / scale)

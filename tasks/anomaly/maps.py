"""Anomaly maps: where in an image a detector finds it unusual, and how well that matches where
the anomaly is.

A map is one number per pixel, higher = more anomalous, from what the detector's model can say:

* ``pixel-nll``: a PIXELWISE model's per-pixel negative log-likelihood (PixelCNN's exact
  conditionals, a VAE's reconstruction term);
* ``gradient``: for a DIFFERENTIABLE model, the size of the input gradient of its log-likelihood
  at each pixel, ``|d log p(x) / d x|`` summed over channels (how much the pixel's value moves
  the density);
* ``layout``: each layout cell's share of the layout code length, spread over the pixels the
  cell averages (for the layout scores);
* ``patch-nn``: no network: each pixel's patch against normal images' patches at about the same
  place (:mod:`tasks.anomaly.patch_neighbours`);
* ``detail``: no network: how much fine detail each region holds (:mod:`tasks.anomaly.detail`),
  delivered standardized and two-sided: a region smoother or busier than normal images are there;
* ``features-nn``: for a LOCAL_FEATURES model (a flow), what its network computes about each
  place against what it computes at the same place of normal images
  (:mod:`tasks.anomaly.features`);
* ``patch-nn+detail`` and ``patch-nn+features-nn+detail``: the named maps, standardized and
  added (:mod:`tasks.anomaly.map_setting`).

What a detector delivers is one of these, smoothed and standardized as its
:class:`~tasks.anomaly.map_setting.MapSetting` says (:func:`delivered_maps`). A model's maps are
compared with a classical reference that needs no model,
:func:`nearest_normal_maps` (the absolute difference from the nearest normal training image).

Maps are judged against known masks (the synthetic local anomalies of
:mod:`tasks.anomaly.corruptions`) by pixel AUROC and by per-region overlap (PRO, Bergmann et al.
2020), both over all pixels of the images given.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import roc_auc_score
from torch import Tensor

from genmodels.contract import Capability
from genmodels.errors import CapabilityError
from tasks.anomaly.detail import detail_maps
from tasks.anomaly.detector import Detector
from tasks.anomaly.features import feature_maps
from tasks.anomaly.map_setting import JOINED, MapSetting, parts

MAP_KINDS = ("pixel-nll", "gradient", "layout", "patch-nn", "features-nn", "detail", *JOINED)


def map_kind(detector: Detector) -> str:
    """The map a detector delivers: its map setting's kind, or else its model's own."""
    if detector.map_setting is not None:
        return detector.map_setting.kind
    return model_map_kind(detector)


def model_map_kind(detector: Detector) -> str:
    """The map a detector's model draws: the layout's where its score reads a layout, else the
    best its model can give."""
    model = detector.model
    if detector.layout is not None:
        return "layout"
    if model.supports(Capability.PIXELWISE):
        return "pixel-nll"
    if model.supports(Capability.DIFFERENTIABLE):
        return "gradient"
    raise CapabilityError(
        f"model '{model.name}' cannot say where an image is anomalous: it has neither per-pixel "
        "likelihood terms (PIXELWISE) nor a likelihood differentiable in the pixels"
    )


def _gradient(detector: Detector, x: Tensor) -> Tensor:
    model = detector.model
    was_training = model.training
    model.eval()
    try:
        with torch.enable_grad():
            y = x.detach().to(torch.get_default_dtype()).requires_grad_(True)
            model.smooth_log_likelihood(y).sum().backward()
        assert y.grad is not None
        return y.grad.abs().sum(1)
    finally:
        model.train(was_training)


def anomaly_maps(
    detector: Detector, images: Tensor, kind: str | None = None, batch_size: int = 64
) -> np.ndarray:
    """Raw maps ``(N, H, W)`` float64 of ``images (N, C, H, W)`` in ``[0, 1]``; for a joined
    kind ``(N, K, H, W)``, one plane per part."""
    kind = kind or map_kind(detector)
    if kind not in MAP_KINDS:
        raise ValueError(f"unknown map '{kind}'; maps: {', '.join(MAP_KINDS)}")
    if kind in JOINED:
        return np.stack([anomaly_maps(detector, images, p, batch_size) for p in parts(kind)], 1)
    if kind == "features-nn":  # the references' features once, not per batch
        if detector.patches is None:
            raise ValueError("a features-nn map needs a detector with reference images")
        return feature_maps(detector.model, images, detector.patches.references)
    h, w = images.shape[2:]
    pieces = []
    for start in range(0, len(images), batch_size):
        x = images[start : start + batch_size]
        if kind == "layout":
            if detector.layout is None:
                raise ValueError("a layout map needs a detector with a layout density")
            cells = torch.from_numpy(detector.layout.cell_bits(x)).unsqueeze(1)
            part = F.interpolate(cells, size=(h, w), mode="bilinear", align_corners=False)[:, 0]
        elif kind == "patch-nn":
            if detector.patches is None:
                raise ValueError("a patch-nn map needs a detector with reference patches")
            part = torch.from_numpy(detector.patches.maps(x))
        elif kind == "detail":
            part = torch.from_numpy(detail_maps(x))
        elif kind == "pixel-nll":
            with torch.no_grad():
                part = detector.model.eval().pixel_nll(x.to(torch.get_default_dtype()))
        else:
            part = _gradient(detector, x)
        pieces.append(part.detach().double().cpu())
    return torch.cat(pieces).numpy() if pieces else np.empty((0, h, w))


def maps_by_kind(detector: Detector, images: Tensor, kinds: list[str]) -> dict[str, np.ndarray]:
    """The raw maps of ``images`` for each of ``kinds``, each single map drawn once however many
    joined kinds share it."""
    wanted = dict.fromkeys(p for k in kinds for p in parts(k))
    single = {p: anomaly_maps(detector, images, p) for p in wanted}
    return {
        k: np.stack([single[p] for p in parts(k)], 1) if k in JOINED else single[k] for k in kinds
    }


def delivered_maps(detector: Detector, images: Tensor) -> np.ndarray:
    """The maps ``(N, H, W)`` the detector delivers: its setting's kind, smoothed and
    standardized as set (its model's own map, raw, where it carries no setting)."""
    setting = detector.map_setting or MapSetting(model_map_kind(detector))
    return setting(anomaly_maps(detector, images, setting.kind))


def nearest_normal_maps(images: Tensor, normals: Tensor, batch_size: int = 256) -> np.ndarray:
    """The classical reference map, no model: ``|x - n(x)|`` summed over channels, where
    ``n(x)`` is the normal image nearest to ``x`` (Euclidean, over all pixels). ``(N, H, W)``."""
    ref = normals.reshape(len(normals), -1).double()
    ref_sq = (ref**2).sum(1)
    parts = []
    for start in range(0, len(images), batch_size):
        x = images[start : start + batch_size].double()
        flat = x.reshape(len(x), -1)
        distances = ref_sq[None] - 2 * flat @ ref.T  # + |x|^2, the same for every candidate
        nearest = normals[distances.argmin(1)].double()
        parts.append((x - nearest).abs().sum(1))
    h, w = images.shape[2:]
    return torch.cat(parts).numpy() if parts else np.empty((0, h, w))


def pixel_auroc(maps: np.ndarray, masks: np.ndarray) -> float:
    """AUROC of the map's values over every pixel, the masked pixels being the positives."""
    truth = np.asarray(masks, dtype=bool).reshape(-1)
    if truth.all() or not truth.any():
        raise ValueError("pixel AUROC needs anomalous and normal pixels")
    return float(roc_auc_score(truth, np.asarray(maps, dtype=np.float64).reshape(-1)))


def _regions(mask: np.ndarray) -> list[np.ndarray]:
    """The connected regions of a 2-D mask (4-connectivity), as boolean masks."""
    from scipy import ndimage

    labels, count = ndimage.label(mask)
    return [labels == i for i in range(1, count + 1)]


def pro_score(maps: np.ndarray, masks: np.ndarray, max_fpr: float = 0.3, steps: int = 100) -> float:
    """Area under the per-region-overlap curve up to a pixel false-positive rate of ``max_fpr``,
    normalized to [0, 1]: at each threshold, the mean over every anomalous region of the share of
    its pixels above it, integrated over the false-positive rate of the normal pixels."""
    maps = np.asarray(maps, dtype=np.float64)
    masks = np.asarray(masks, dtype=bool)
    regions = [(i, r) for i, m in enumerate(masks) for r in _regions(m)]
    if not regions or masks.all():
        raise ValueError("PRO needs anomalous regions and normal pixels")
    normal = maps[~masks]
    thresholds = np.quantile(normal, 1.0 - np.linspace(0.0, max_fpr, steps))
    fprs = np.asarray([(normal > t).mean() for t in thresholds])
    pros = np.asarray([np.mean([(maps[i][r] > t).mean() for i, r in regions]) for t in thresholds])
    keep = fprs <= max_fpr
    if keep.sum() < 2:
        return 0.0
    return float(np.trapezoid(pros[keep], fprs[keep]) / max_fpr)

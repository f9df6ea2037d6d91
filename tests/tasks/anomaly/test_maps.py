"""Anomaly maps: each kind says where, the metrics judge them against known masks."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from zoo_params import tiny_params

from genmodels.errors import CapabilityError
from genmodels.registry import get_model_class
from tasks.anomaly.detector import Detector
from tasks.anomaly.layout import LayoutDensity
from tasks.anomaly.maps import (
    anomaly_maps,
    map_kind,
    nearest_normal_maps,
    pixel_auroc,
    pro_score,
)
from tasks.anomaly.scores import make_score
from tasks.anomaly.threshold import ConformalThreshold

THRESHOLD = ConformalThreshold.fit(np.arange(40.0), 0.1)


def _normal(n: int = 200, size: int = 8, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = 0.5 + 0.05 * torch.randn(n, 1, size, size, generator=g)
    return torch.round(x.clamp(0, 1) * 16) / 16


def _with_blob(x: torch.Tensor) -> tuple[torch.Tensor, np.ndarray]:
    """A bright 3x3 blob at a different place in each image, and the blob masks."""
    out, masks = x.clone(), np.zeros((len(x), x.shape[2], x.shape[3]), bool)
    for i in range(len(x)):
        r, c = i % 5, (2 * i) % 5
        out[i, :, r : r + 3, c : c + 3] = 1.0
        masks[i, r : r + 3, c : c + 3] = True
    return out, masks


def test_metrics_reward_a_map_that_covers_the_mask_and_only_it():
    masks = np.zeros((4, 8, 8), bool)
    masks[:, 2:5, 2:5] = True
    assert pixel_auroc(masks.astype(float), masks) == 1.0
    assert pixel_auroc(1.0 - masks, masks) == 0.0
    assert pro_score(masks.astype(float) + 0.01 * np.random.default_rng(0).random(masks.shape),
                     masks) > 0.95  # fmt: skip
    noise = np.random.default_rng(1).random((200, 8, 8))
    big = np.zeros((200, 8, 8), bool)
    big[:, 1:4, 1:4] = True
    # a map that knows nothing overlaps each region as often as it flags normal pixels: 0.15
    assert pro_score(noise, big) == pytest.approx(0.15, abs=0.02)
    with pytest.raises(ValueError, match="needs anomalous and normal pixels"):
        pixel_auroc(np.zeros((2, 3, 3)), np.zeros((2, 3, 3), bool))


def test_a_gaussian_density_points_at_the_blob_through_its_gradient():
    normal = _normal()
    cls = get_model_class("gmm")
    model = cls((1, 8, 8), 17, n_components=1)
    model.fit_closed_form(normal, torch.Generator().manual_seed(0))
    detector = Detector(model, make_score("bpd"), THRESHOLD)
    assert map_kind(detector) == "gradient"
    blobs, masks = _with_blob(_normal(n=10, seed=1))
    maps = anomaly_maps(detector, blobs)
    assert maps.shape == (10, 8, 8) and np.isfinite(maps).all()
    assert pixel_auroc(maps, masks) > 0.9


def test_a_layout_map_points_at_the_cell_that_moved_and_adds_up_to_the_code():
    normal = _normal(n=300)
    layout = LayoutDensity.fit(normal, (4, 4))
    blobs, masks = _with_blob(_normal(n=10, seed=2))
    cells = layout.cell_bits(blobs)
    d = 16
    constant = 0.5 * (layout.log_det_cov + d * math.log(2 * math.pi)) / math.log(2)
    assert np.allclose(cells.reshape(10, -1).sum(1), layout.bits(blobs) - constant)
    detector = Detector(
        get_model_class("gmm")((1, 8, 8), 17, n_components=1),
        make_score("layout"),
        THRESHOLD,
        layout=layout,
    )
    assert map_kind(detector) == "layout"
    maps = anomaly_maps(detector, blobs)
    assert maps.shape == (10, 8, 8) and pixel_auroc(maps, masks) > 0.8


def test_a_pixelcnn_maps_with_its_own_conditionals_and_a_gan_cannot_map():
    cls = get_model_class("pixelcnn")
    model = cls((1, 8, 8), 17, **tiny_params(cls))
    detector = Detector(model, make_score("bpd"), THRESHOLD)
    assert map_kind(detector) == "pixel-nll"
    x = _normal(n=3)
    maps = anomaly_maps(detector, x)
    with torch.no_grad():
        assert np.allclose(maps.reshape(3, -1).sum(1), -model.log_prob(x).numpy(), atol=1e-3)
    ddpm = get_model_class("ddpm")
    unmappable = Detector(ddpm((1, 8, 8), 17, **tiny_params(ddpm)), make_score("bpd"), THRESHOLD)
    with pytest.raises(CapabilityError, match="'ddpm' cannot say where"):
        map_kind(unmappable)


def test_the_nearest_normal_reference_marks_what_differs_from_the_closest_normal_image():
    g = torch.Generator().manual_seed(0)
    normals = torch.rand(20, 2, 6, 6, generator=g)
    x = normals[[3, 7]].clone()
    x[0, :, 1:3, 2:4] += 0.5  # a patch changed in both channels
    x[1, 1, 5, 5] = 1.0 - x[1, 1, 5, 5]  # one pixel of one channel
    maps = nearest_normal_maps(x, normals)
    assert maps.shape == (2, 6, 6)
    expected = np.zeros((2, 6, 6))
    expected[0, 1:3, 2:4] = 1.0  # 0.5 in each of two channels
    expected[1, 5, 5] = abs(1.0 - 2 * float(normals[7, 1, 5, 5]))
    assert np.allclose(maps, expected)  # its nearest normal is the image it was made from

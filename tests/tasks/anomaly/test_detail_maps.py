"""The detail map, read two-sided, and the patch-neighbour map joined with it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genmodels.registry import get_model_class
from tasks.anomaly.corruptions import gaussian_blur
from tasks.anomaly.detail import detail_maps
from tasks.anomaly.detector import Detector
from tasks.anomaly.map_setting import MapSetting
from tasks.anomaly.maps import anomaly_maps, delivered_maps, maps_by_kind, pixel_auroc
from tasks.anomaly.patch_neighbours import PatchNeighbours
from tasks.anomaly.scores import make_score
from tasks.anomaly.threshold import ConformalThreshold


def _textured(n: int, seed: int) -> torch.Tensor:
    """16x16 images: a smooth left half, a fine random texture on the right half."""
    g = torch.Generator().manual_seed(seed)
    x = torch.full((n, 1, 16, 16), 0.5)
    x[..., 8:] += 0.15 * torch.randn(n, 1, 16, 8, generator=g)
    return x.clamp(0, 1)


def test_detail_is_lower_where_an_image_is_blurred_and_higher_where_noise_is_added():
    x = _textured(1, 0)
    base = detail_maps(x)[0]
    blurred = x.clone()
    blurred[0, :, 4:12, 9:15] = gaussian_blur(x[0], 1.5)[:, 4:12, 9:15]
    noisy = x.clone()
    noisy[0, :, 4:12, 1:7] += 0.15 * torch.randn(1, 8, 6, generator=torch.Generator())
    assert detail_maps(blurred)[0][6:10, 10:14].max() < base[6:10, 10:14].min()
    assert detail_maps(noisy)[0][6:10, 2:6].min() > base[6:10, 2:6].max()
    flat = detail_maps(torch.full((2, 3, 5, 5), 0.25))
    assert flat.shape == (2, 5, 5) and np.isfinite(flat).all()
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        detail_maps(torch.rand(5, 5))


def test_a_two_sided_map_flags_both_ends_and_a_joined_map_adds_its_parts():
    rng = np.random.default_rng(0)
    normal = rng.normal(size=(300, 2, 4, 4))
    normal[:, 0] = 3 + 2 * normal[:, 0]  # the patch plane on its own scale
    joined = MapSetting.fit("patch-nn+detail", 0.0, normal)
    patch = MapSetting.fit("patch-nn", 0.0, normal[:, 0])
    detail = MapSetting.fit("detail", 0.0, normal[:, 1])
    probe = normal[:5].copy()
    probe[0, 1] -= 10.0  # far too little detail
    probe[1, 1] += 10.0  # far too much
    assert (detail(probe[:2, 1]) > 5).all()  # both ends read as anomalous
    expected = patch(probe[:, 0]) + np.abs((probe[:, 1] - detail.mean) / detail.scale)
    assert np.allclose(joined(probe), expected)
    assert "detail read two-sided" in joined.describe()
    again = MapSetting.from_state(joined.state())
    assert np.allclose(again(probe), joined(probe))
    with pytest.raises(ValueError, match="needs the normal images' statistics"):
        MapSetting.fit("patch-nn+detail", 1.0)


def test_the_joined_map_finds_a_local_blur_and_travels_with_the_detector(tmp_path):
    normals = _textured(200, 1)
    model = get_model_class("gmm")((1, 16, 16), 256, n_components=1)
    model.fit_closed_form(normals[:120], torch.Generator().manual_seed(0))
    threshold = ConformalThreshold.fit(np.arange(40.0), 0.1)
    plain = Detector(model, make_score("bpd"), threshold, patches=PatchNeighbours(normals[:120]))
    stats = anomaly_maps(plain, normals[120:160], "patch-nn+detail")
    assert stats.shape == (40, 2, 16, 16)
    setting = MapSetting.fit("patch-nn+detail", 1.0, stats)
    detector = Detector(model, make_score("bpd"), threshold, map_setting=setting,
                        patches=plain.patches)  # fmt: skip
    x = normals[160:].clone()
    masks = np.zeros((40, 16, 16), bool)
    masks[:, 4:12, 9:15] = True
    for i in range(len(x)):
        x[i, :, 4:12, 9:15] = gaussian_blur(x[i], 1.5)[:, 4:12, 9:15]
    assert pixel_auroc(delivered_maps(detector, x), masks) > 0.85
    # the patch map alone misses it: blurred texture is nearer the reference patches, not further
    patch_only = MapSetting.fit("patch-nn", 1.0, stats[:, 0])
    assert pixel_auroc(patch_only(anomaly_maps(plain, x, "patch-nn")), masks) < 0.5
    loaded = Detector.load(detector.save(tmp_path))
    assert np.allclose(delivered_maps(loaded, x), delivered_maps(detector, x))
    with pytest.raises(ValueError, match="needs its reference images"):
        Detector(model, make_score("bpd"), threshold, map_setting=setting)


def test_maps_by_kind_draws_each_single_map_once_and_stacks_the_joined_ones(monkeypatch):
    normals = _textured(30, 2)
    model = get_model_class("gmm")((1, 16, 16), 256, n_components=1)
    model.fit_closed_form(normals, torch.Generator().manual_seed(0))
    threshold = ConformalThreshold.fit(np.arange(40.0), 0.1)
    detector = Detector(model, make_score("bpd"), threshold, patches=PatchNeighbours(normals))
    x = _textured(4, 3)
    calls: list[int] = []
    patches = detector.patches
    assert patches is not None
    original = PatchNeighbours.maps
    monkeypatch.setattr(
        PatchNeighbours, "maps", lambda self, i: calls.append(1) or original(self, i)
    )
    out = maps_by_kind(detector, x, ["patch-nn", "patch-nn+detail", "gradient"])
    assert len(calls) == 1  # the patch map is shared by both kinds that hold it
    assert out["patch-nn+detail"].shape == (4, 2, 16, 16)
    assert np.array_equal(out["patch-nn+detail"][:, 0], out["patch-nn"])
    assert np.allclose(out["patch-nn+detail"][:, 1], detail_maps(x))
    assert out["gradient"].shape == (4, 16, 16)

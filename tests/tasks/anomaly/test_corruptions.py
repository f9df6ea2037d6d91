"""Synthetic anomalies: seeded, on the level grid, changed only where their mask says, every kind
used, and refused with a clear message when asked for something unknown."""

from __future__ import annotations

import pytest
import torch

from tasks.anomaly.corruptions import GLOBAL, KINDS, LOCAL, corrupt, gaussian_blur


def _images(n: int = 40, c: int = 1, size: int = 16, levels: int = 17, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, levels, (n, c, size, size), generator=g).float() / (levels - 1)


def test_same_seed_same_anomalies_other_seed_other_ones():
    x, donors = _images(), _images(seed=1)
    a, b = corrupt(x, donors, 17, seed=3), corrupt(x, donors, 17, seed=3)
    assert torch.equal(a.images, b.images) and torch.equal(a.masks, b.masks)
    assert a.kinds == b.kinds
    assert not torch.equal(corrupt(x, donors, 17, seed=4).images, a.images)


def test_every_kind_is_used_and_results_stay_on_the_level_grid():
    x = _images(n=len(KINDS) * 3, c=3, levels=256)
    out = corrupt(x, _images(n=5, c=3, levels=256, seed=2), 256, seed=0)
    assert sorted(set(out.kinds)) == sorted(KINDS)
    assert out.images.min() >= 0 and out.images.max() <= 1
    assert torch.allclose(out.images * 255, torch.round(out.images * 255), atol=1e-4)
    assert out.images.shape == x.shape and out.masks.shape == (len(x), 1, 16, 16)


def test_local_corruptions_change_nothing_outside_their_mask():
    x = _images(n=60, levels=256)
    out = corrupt(x, _images(n=5, levels=256, seed=9), 256, seed=1, kinds=LOCAL)
    outside = ~out.masks.expand_as(x)
    assert torch.equal(out.images[outside], x[outside])
    area = out.masks.float().mean((1, 2, 3))
    # one rectangle, a sixth to a third of each side: 2 to 12% of a 16x16 image here
    assert (area >= 4 / 256).all() and (area <= 25 / 256).all()
    changed = (out.images != x).flatten(1).any(1)
    assert changed.float().mean() > 0.9  # nearly every image really changes


def test_global_corruptions_mark_every_pixel_and_keep_their_direction():
    flat = torch.full((4, 1, 8, 8), 0.5)
    out = corrupt(flat, flat, 256, seed=0, kinds=("exposure",))
    assert out.masks.all()
    shifts = (out.images - flat).flatten(1)
    assert torch.all(shifts.abs().min(1).values >= 0.1 - 1 / 255)  # 0.1 to 0.2 either way
    assert torch.all((shifts.max(1).values - shifts.min(1).values) < 1e-6)  # one shift per image
    assert set(GLOBAL) | set(LOCAL) == set(KINDS)


def test_blur_keeps_a_flat_image_and_smooths_an_edge():
    flat = torch.full((1, 9, 9), 0.3)
    assert torch.allclose(gaussian_blur(flat, 1.5), flat)
    edge = torch.zeros(1, 9, 9)
    edge[:, :, 5:] = 1.0
    blurred = gaussian_blur(edge, 1.0)
    assert 0 < blurred[0, 4, 4] < 0.5 < blurred[0, 4, 5] < 1


def test_bad_requests_are_refused_by_name():
    x = _images(n=3)
    with pytest.raises(ValueError, match="unknown corruption.*'smudge'"):
        corrupt(x, x, 17, seed=0, kinds=("smudge",))
    with pytest.raises(ValueError, match="must be \\(N, C, H, W\\) of one shape"):
        corrupt(x, _images(n=3, size=8), 17, seed=0)
    with pytest.raises(ValueError, match="at least one donor"):
        corrupt(x, x[:0], 17, seed=0)


def test_each_kind_of_synthetic_anomaly_is_judged_on_its_own():
    import numpy as np

    from tasks.anomaly.evaluation import evaluate_detector

    normal = np.linspace(0.0, 1.0, 21)
    synthetic = np.array([5.0, 6.0, -1.0, -2.0])  # the blurs stand out, the noise does not
    kinds = ("local-blur", "local-blur", "noise", "noise")
    result = evaluate_detector(
        "x", normal, normal, np.zeros(21, bool), 0.1, synthetic_scores=synthetic,
        synthetic_kinds=kinds,
    )  # fmt: skip
    m = result.metrics
    assert m["synthetic_auroc.local-blur"] == 1.0 and m["synthetic_auroc.noise"] == 0.0
    assert m["synthetic_local_auroc"] == 1.0 and m["synthetic_global_auroc"] == 0.0
    assert m["synthetic_mean_kind_auroc"] == 0.5 and m["synthetic_worst_kind_auroc"] == 0.0
    assert m["synthetic_auroc"] == 0.5

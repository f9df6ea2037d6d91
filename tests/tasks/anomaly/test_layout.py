"""The layout density and the layout scores: exposure-invariant, a true Gaussian code length in
bits, flagging a displaced structure that a code length cannot see."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal

from tasks.anomaly.layout import LayoutDensity, layout_view
from tasks.anomaly.scores import Evidence, make_score


def _blobs(n: int, centre_col: int, seed: int) -> torch.Tensor:
    """``(n, 1, 16, 16)`` dark images with a bright 4x4 blob near column ``centre_col``, jittered
    by a pixel, random exposure and noise."""
    g = torch.Generator().manual_seed(seed)
    x = 0.1 + 0.05 * torch.rand(n, 1, 16, 16, generator=g)
    for i in range(n):
        r = 6 + int(torch.randint(-1, 2, (1,), generator=g))
        c = centre_col + int(torch.randint(-1, 2, (1,), generator=g))
        x[i, 0, r : r + 4, c : c + 4] += 0.5
    gain = 0.6 + 0.8 * torch.rand(n, 1, 1, 1, generator=g)
    return (x * gain).clamp(0, 1)


def test_layout_ignores_exposure_and_contrast():
    x = _blobs(3, 3, seed=0)
    brighter = (0.5 * x + 0.3).clamp(0, 1)  # an affine exposure change that stays in [0, 1]
    assert np.allclose(layout_view(x, (4, 4)), layout_view(brighter, (4, 4)), atol=1e-9)
    views = layout_view(x, (4, 4))
    assert np.allclose(views.mean(1), 0, atol=1e-12) and np.allclose(views.std(1), 1)
    flat = torch.full((1, 1, 16, 16), 0.4)
    assert np.array_equal(layout_view(flat, (4, 4)), np.zeros((1, 16)))  # no layout, no NaN


def test_layout_refuses_a_grid_finer_than_the_images():
    with pytest.raises(ValueError, match="larger than the images"):
        layout_view(torch.zeros(2, 1, 4, 4), (7, 7))
    with pytest.raises(ValueError, match="at least 2 images"):
        LayoutDensity.fit(torch.zeros(1, 1, 8, 8), (2, 2))


def test_layout_bits_are_the_gaussian_code_length_and_survive_a_state_round_trip():
    train, test = _blobs(200, 3, seed=1), _blobs(5, 3, seed=2)
    density = LayoutDensity.fit(train, (4, 4))
    cov = np.linalg.inv(density.precision)
    # scipy's log-density of the same Gaussian, independent of our formula
    want = -multivariate_normal(density.mean, cov).logpdf(layout_view(test, (4, 4))) / math.log(2)
    assert np.allclose(density.bits(test), want, rtol=1e-9)
    restored = LayoutDensity.from_state(density.state())
    assert np.allclose(restored.bits(test), density.bits(test), rtol=1e-12)


def test_a_displaced_structure_gets_a_longer_layout_code_at_any_exposure():
    normal = _blobs(300, 3, seed=3)
    density = LayoutDensity.fit(normal, (4, 4))
    held_out, displaced = _blobs(50, 3, seed=4), _blobs(50, 9, seed=5)
    normal_bits, anomalous_bits = density.bits(held_out), density.bits(displaced)
    assert anomalous_bits.min() > np.quantile(normal_bits, 0.95)
    # texture (and so any code length) is the same kind in both sets: only the layout differs
    assert np.allclose(density.bits(0.5 * displaced), anomalous_bits)


def _evidence(nll: list[float], layout: list[float], background: list[float] | None = None):
    return Evidence(
        nll_bits=np.array(nll, dtype=float),
        code_bits=None,
        background_nll_bits=None if background is None else np.array(background, dtype=float),
        num_dims=16,
        layout_bits=np.array(layout, dtype=float),
    )


def test_layout_typicality_standardizes_both_parts_on_the_reference():
    reference = _evidence([100, 102, 98, 100], [10, 12, 8, 10])
    score = make_score("layout-typicality").fit(reference)
    assert not score.uses_background
    test = _evidence([100, 100, 110, 110], [10, 14, 10, 14])
    got = score(test)
    # typicality |nll - 100|: reference values 0, 2, 2, 0 (mean 1, std 1); layout: mean 10,
    # std sqrt(2); the score is the mean of the two z-scores
    z_code = (np.abs(np.array([100, 100, 110, 110]) - 100) - 1) / 1
    z_layout = (np.array([10, 14, 10, 14]) - 10) / math.sqrt(2)
    assert np.allclose(got, (z_code + z_layout) / 2)
    assert got[3] > got[2] > got[1] > got[0]  # atypical in both > in one > in none
    restored = make_score("layout-typicality").load_state(score.state())
    assert np.allclose(restored(test), got)


def test_layout_typicality_uses_the_background_code_length_when_there_is_one():
    reference = _evidence([1, 2, 3, 4], [10, 12, 8, 10], background=[50, 52, 48, 50])
    score = make_score("layout-typicality").fit(reference)
    assert score.uses_background
    far_model, far_background = (
        _evidence([900], [10], background=[50]),
        _evidence([2.5], [10], background=[90]),
    )
    assert score(far_background)[0] > 5 > score(far_model)[0]  # the model's own nll is unused
    restored = make_score("layout-typicality").load_state(score.state())
    assert restored.uses_background and np.allclose(restored(far_background), score(far_background))


def test_layout_scores_refuse_evidence_without_a_layout():
    ev = Evidence(np.zeros(3), None, None, 16)
    with pytest.raises(ValueError, match="needs a layout density; set task.layout"):
        make_score("layout")(ev)

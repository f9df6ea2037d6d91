"""The posterior measures: PIT coverage of credible intervals, the energy score, and the uniform
prior's bits/dim of the true chroma."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from tasks.colorize.color import compose, polygon_area, to_chroma
from tasks.colorize.posterior import (
    chroma_coverage,
    energy_score,
    randomized_pit,
    uniform_truth_bpd,
)


def _rgb(chroma: torch.Tensor, gray: float = 0.5) -> torch.Tensor:
    """Colour images with the given chroma (small enough to stay inside the RGB cube)."""
    lead = chroma.shape[:-3]
    flat = chroma.reshape(-1, *chroma.shape[-3:])
    g = torch.full((len(flat), 1, *flat.shape[-2:]), gray, dtype=flat.dtype)
    return compose(g, flat).reshape(*lead, 3, *flat.shape[-2:])


def _draws(k: int, b: int, scale: float, shift: float, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return shift + scale * torch.randn(k, b, 2, 8, 8, generator=g, dtype=torch.float64)


def test_compose_keeps_these_chroma_values_so_the_checks_below_see_them():
    c = _draws(1, 4, 0.03, 0.0, 0)[0]
    assert torch.allclose(to_chroma(_rgb(c)), c, atol=1e-9)


@pytest.mark.parametrize("k", [1, 4, 8])
def test_pit_is_uniform_when_the_truth_is_one_more_draw(k):
    everything = torch.randn(k + 1, 20000, generator=torch.Generator().manual_seed(k))
    u = randomized_pit(everything[:k], everything[k], torch.Generator().manual_seed(1)).numpy()
    counts, _ = np.histogram(u, bins=10, range=(0, 1))
    assert np.abs(counts / len(u) - 0.1).max() < 0.01


def test_tied_draws_give_a_uniform_pit_too():
    truth = torch.zeros(20000)
    u = randomized_pit(torch.zeros(4, 20000), truth, torch.Generator().manual_seed(0)).numpy()
    assert abs(u.mean() - 0.5) < 0.01 and abs((u < 0.25).mean() - 0.25) < 0.01


def test_coverage_matches_the_level_for_a_calibrated_posterior_and_not_otherwise():
    truth = _rgb(_draws(1, 64, 0.03, 0.0, 10)[0])
    calibrated = _rgb(_draws(8, 64, 0.03, 0.0, 11))
    narrow = _rgb(_draws(8, 64, 0.005, 0.0, 12))
    wide = _rgb(_draws(8, 64, 0.1, 0.0, 13))
    gen = torch.Generator().manual_seed(0)
    cover = {name: chroma_coverage(s, truth, generator=gen) for name, s in
             (("calibrated", calibrated), ("narrow", narrow), ("wide", wide))}  # fmt: skip
    for level in (0.5, 0.9):
        assert cover["calibrated"][level].mean().item() == pytest.approx(level, abs=0.02)
        assert cover["narrow"][level].mean().item() < level - 0.2  # over-confident
        assert cover["wide"][level].mean().item() > level + 0.05  # under-confident
    with pytest.raises(ValueError, match="credible level"):
        chroma_coverage(calibrated, truth, levels=(1.0,))


def test_energy_score_of_a_point_forecast_is_its_rms_chroma_error():
    truth_c, guess_c = _draws(2, 3, 0.03, 0.0, 20)
    score = energy_score(_rgb(guess_c).unsqueeze(0), _rgb(truth_c))
    rms = ((guess_c - truth_c) ** 2).flatten(1).mean(1).sqrt()
    assert torch.allclose(score, rms, atol=1e-6)
    assert energy_score(_rgb(truth_c).unsqueeze(0), _rgb(truth_c)).abs().max() < 1e-9


def test_energy_score_of_two_draws_by_hand():
    truth_c = torch.zeros(1, 2, 1, 1, dtype=torch.float64)
    a = torch.tensor([0.03, 0.0], dtype=torch.float64).view(1, 2, 1, 1)
    b = torch.tensor([0.0, -0.04], dtype=torch.float64).view(1, 2, 1, 1)
    draws = _rgb(torch.stack([a, b]))
    # RMS over the 2 chroma values: |a| / sqrt 2 etc.; fair estimator: mean error - |a - b| / 2
    by_hand = (0.03 + 0.04) / 2 / math.sqrt(2) - 0.05 / 2 / math.sqrt(2)
    assert energy_score(draws, _rgb(truth_c)).item() == pytest.approx(by_hand, abs=1e-9)


def test_energy_score_prefers_the_true_distribution_to_an_over_confident_one():
    truth = _rgb(_draws(1, 200, 0.03, 0.0, 30)[0])
    right = energy_score(_rgb(_draws(8, 200, 0.03, 0.0, 31)), truth).mean()
    narrow = energy_score(_rgb(_draws(8, 200, 0.003, 0.0, 32)), truth).mean()
    assert right < narrow


def test_polygon_area_agrees_with_a_grid_count_of_the_feasible_chroma():
    gray = torch.tensor([0.1, 0.5, 0.8], dtype=torch.float64).view(3, 1, 1, 1)
    side = torch.linspace(-0.6, 0.6, 801, dtype=torch.float64)
    cb, cr = torch.meshgrid(side, side, indexing="ij")
    grid = torch.stack([cb.flatten(), cr.flatten()], 1)  # (P, 2)
    cell = (side[1] - side[0]).item() ** 2
    for i, y in enumerate(gray.flatten().tolist()):
        rgb = y + grid @ torch.tensor(
            [[0.0, -0.114 * 1.772 / 0.587, 1.772], [1.402, -0.299 * 1.402 / 0.587, 0.0]],
            dtype=torch.float64,
        )
        inside = ((rgb >= 0) & (rgb <= 1)).all(1)
        counted = inside.sum().item() * cell
        assert polygon_area(gray[i : i + 1]).item() == pytest.approx(counted, rel=0.02)


def test_uniform_bits_are_zero_where_the_chroma_is_forced_and_grow_with_the_polygon():
    black = torch.zeros(1, 1, 2, 2)
    assert uniform_truth_bpd(black).item() == 0.0
    mid = torch.full((1, 1, 2, 2), 0.5)
    area = polygon_area(mid)[0, 0, 0, 0].item()
    assert uniform_truth_bpd(mid).item() == pytest.approx(math.log2(area * 255**2) / 2, rel=1e-5)
    assert uniform_truth_bpd(torch.full((1, 1, 2, 2), 0.1)).item() < uniform_truth_bpd(mid).item()

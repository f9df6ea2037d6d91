"""The `confident` validation rule: the score fixed in advance stays unless another beats it on
the validation images beyond chance."""

from __future__ import annotations

import numpy as np
import pytest

from tasks.anomaly.selection import confident_pick, validation_gains


def _scores(rng: np.random.Generator, n: int, shift: float) -> tuple[np.ndarray, np.ndarray]:
    """Normal and anomalous scores of ``n`` images each, the anomalies ``shift`` higher."""
    return rng.normal(size=n), rng.normal(size=n) + shift


def test_a_clearly_better_score_on_many_images_beats_the_default_beyond_chance():
    rng = np.random.default_rng(0)
    default, better = _scores(rng, 300, 0.3), _scores(rng, 300, 2.0)
    gains = validation_gains(
        ["layout", "bpd"], [default[0], better[0]], [default[1], better[1]], n_boot=200
    )
    assert gains["val_gain"].iloc[0] == 0 and gains["val_gain_ci_low"].iloc[0] == 0
    low, gain, high = gains[["val_gain_ci_low", "val_gain", "val_gain_ci_high"]].iloc[1]
    assert 0 < low < gain < high
    assert gain == pytest.approx(gains["val_auroc"].iloc[1] - gains["val_auroc"].iloc[0])
    assert confident_pick(gains["val_auroc"].to_numpy(), gains["val_gain_ci_low"].to_numpy()) == 1


def test_a_slightly_better_score_on_a_few_images_does_not_replace_the_default():
    rng = np.random.default_rng(1)
    normal = rng.normal(size=20)
    anomalous = rng.normal(size=20) + 1.0
    jitter = rng.normal(scale=0.5, size=40)  # the same images, ranked a little differently
    other = (normal + jitter[:20], anomalous + jitter[20:] + 0.3)
    gains = validation_gains(["layout", "bpd"], [normal, other[0]], [anomalous, other[1]])
    assert gains["val_auroc"].iloc[1] > gains["val_auroc"].iloc[0]  # validation's best ...
    assert gains["val_gain_ci_low"].iloc[1] < 0  # ... but not beyond chance
    assert confident_pick(gains["val_auroc"].to_numpy(), gains["val_gain_ci_low"].to_numpy()) == 0


def test_of_the_scores_beyond_chance_the_highest_validation_auroc_is_deployed():
    val_auroc = np.array([0.70, 0.80, 0.95, 0.85])
    # index 2 is the highest, but its interval spans zero; 1 and 3 are beyond chance
    assert confident_pick(val_auroc, np.array([0.0, 0.02, -0.01, 0.01])) == 3
    assert confident_pick(val_auroc, np.array([0.0, -0.1, -0.01, -0.2])) == 0
    assert confident_pick(val_auroc, np.array([0.0, -0.1, 0.01, -0.2]), default=1) == 2


def test_mismatched_inputs_are_refused_with_what_does_not_match():
    a = np.zeros(3)
    with pytest.raises(ValueError, match="2 methods, 1 and 2"):
        validation_gains(["a", "b"], [a], [a, a])
    with pytest.raises(ValueError, match="default 2"):
        validation_gains(["a", "b"], [a, a], [a + 1, a + 1], default=2)
    with pytest.raises(ValueError, match="do not match"):
        confident_pick(np.zeros(3), np.zeros(2))

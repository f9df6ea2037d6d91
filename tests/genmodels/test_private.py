"""DP-SGD through Opacus inside the Lightning fit: accounting, refusals, settings."""

from __future__ import annotations

import math
import warnings

import pytest
import torch
from opacus.accountants import RDPAccountant
from zoo_params import tiny_params

from genmodels.data.imageset import ImageSet
from genmodels.private import DPSGD, RDP_ORDERS, PrivacyConfig, PrivacyError
from genmodels.registry import get_model_class
from genmodels.training import TrainConfig, fit_model, seed_all


@pytest.fixture(scope="module")
def images() -> ImageSet:
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 6, (120, 1, 4, 4), generator=g).float()
    return ImageSet(x.clamp(0, 16) / 16, torch.tensor([0, 1] * 60), levels=17)


def _fit(name: str, images: ImageSet, privacy: PrivacyConfig, epochs: int = 2, batch: int = 20):
    cls = get_model_class(name)
    seed_all(0)
    model = cls(images.image_shape, images.levels, **tiny_params(cls))
    config = TrainConfig(max_epochs=epochs, batch_size=batch, patience=0, privacy=privacy)
    return model, fit_model(model, images, images, config)


@pytest.mark.parametrize("name", ["vae", "vae-cond"])
def test_every_optimizer_step_is_accounted_and_noise_buys_privacy(images, name):
    model, fit = _fit(name, images, PrivacyConfig(noise_multiplier=1.0))
    report = fit.privacy
    assert report is not None
    # Poisson sampling at rate 1/6 (120 images, batch 20): 6 steps per epoch, 2 epochs
    assert report.sample_rate == pytest.approx(1 / 6) and report.steps == 12
    assert report.delta == pytest.approx(1 / 1200)  # default 1/(10 n)
    assert 0 < report.epsilon < math.inf
    _, noisier = _fit(name, images, PrivacyConfig(noise_multiplier=4.0))
    assert noisier.privacy is not None and noisier.privacy.epsilon < report.epsilon / 3
    # the hooks are gone after training: the model is a plain model again
    model.train()
    model.training_loss((images.images[:4], images.labels[:4])).backward()
    assert all(getattr(p, "grad_sample", None) is None for p in model.parameters())


def test_a_target_epsilon_is_spent_by_the_planned_epochs(images):
    _, fit = _fit("vae", images, PrivacyConfig(target_epsilon=3.0, delta=1e-3), epochs=3)
    assert fit.privacy is not None
    assert fit.privacy.epsilon == pytest.approx(3.0, rel=0.03)
    assert fit.privacy.steps == 18


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("gmm", "closed form"),
        ("dcgan", "optimizes by hand"),
        ("realnvp", "ActNorm layer"),
        ("pixelcnn", "MaskedConv2d layer"),
    ],
)
def test_models_dp_sgd_cannot_train_are_refused_by_name(images, name, reason):
    with pytest.raises(PrivacyError, match=f"'{name}'.*{reason}"):
        _fit(name, images, PrivacyConfig(noise_multiplier=1.0))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "exactly one of"),
        ({"noise_multiplier": 1.0, "target_epsilon": 2.0}, "exactly one of"),
        ({"noise_multiplier": -1.0}, "noise_multiplier must be > 0"),
        ({"noise_multiplier": 1.0, "max_grad_norm": 0.0}, "max_grad_norm must be > 0"),
        ({"noise_multiplier": 1.0, "delta": 1.5}, "delta must be in"),
    ],
)
def test_bad_privacy_settings_are_refused(kwargs, message):
    with pytest.raises(PrivacyError, match=message):
        PrivacyConfig(**kwargs)


@pytest.mark.parametrize(
    ("noise", "sample_rate", "steps", "tighter"),
    [(3.0, 0.01, 100, True), (3.0, 1 / 6, 12, False)],
)
def test_the_accountant_searches_orders_past_opacus_range_only_to_tighten(
    noise, sample_rate, steps, tighter
):
    assert all(a == int(a) for a in RDP_ORDERS if a > 11)  # fractional orders are unstable there
    dp = DPSGD(PrivacyConfig(noise_multiplier=noise, delta=1e-5), 1000, sample_rate, 2)
    dp.accountant.history = [(noise, sample_rate, steps)]
    opacus = RDPAccountant()
    opacus.history = list(dp.accountant.history)
    with warnings.catch_warnings(record=True) as theirs_warned:
        warnings.simplefilter("always")
        theirs = opacus.get_epsilon(1e-5)  # Opacus' own orders, 1.1 to 63
    with warnings.catch_warnings(record=True) as ours_warned:
        warnings.simplefilter("always")
        ours = dp.report().epsilon
    assert not [w for w in ours_warned if "largest alpha" in str(w.message)]
    assert 0 < ours <= theirs
    if tighter:  # Opacus' range ran into its edge: its bound is looser than it need be
        assert [w for w in theirs_warned if "largest alpha" in str(w.message)]
        assert ours < 0.95 * theirs
    else:
        assert ours == pytest.approx(theirs)

"""The contract, checked for every registered model: adding a model to the registry (and its
tiny parameters to ``tests/zoo_params.py``) is enough.

Each model is built from its tiny parameters on tiny 4x4 images, fit briefly, and then held to
the contract: samples in range, per-example finite scores, identical scores after a save/load,
and clear capability errors for what it cannot do.
"""

from __future__ import annotations

import math

import pytest
import torch
from zoo_params import tiny_params

from genmodels.contract import Capability, GenerativeModel, Likelihood
from genmodels.data.imageset import ImageSet
from genmodels.errors import CapabilityError
from genmodels.persistence import load_model, save_model
from genmodels.registry import get_model_class, list_models
from genmodels.training import TrainConfig, fit_model, seed_all

MODEL_NAMES = [m.name for m in list_models()]


def test_every_model_has_tiny_parameters_its_constructor_takes():
    from zoo_params import TINY_PARAMS

    assert set(TINY_PARAMS) == set(MODEL_NAMES)
    for name in MODEL_NAMES:
        cls = get_model_class(name)
        model = cls((1, 4, 4), 17, **tiny_params(name))
        assert model.num_parameters() < 50_000, name  # tiny: seconds to fit


@pytest.fixture(scope="module", params=MODEL_NAMES)
def fitted(request, tiny_images_module) -> GenerativeModel:
    cls = get_model_class(request.param)
    seed_all(0)
    model = cls(tiny_images_module.image_shape, tiny_images_module.levels, **tiny_params(cls))
    fit_model(
        model,
        tiny_images_module,
        tiny_images_module,
        TrainConfig(max_epochs=2, batch_size=20, patience=0),
    )
    return model.eval()


@pytest.fixture(scope="module")
def tiny_images_module():
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 6, (40, 1, 4, 4), generator=g).float()
    x[:20, :, 1:3, 1:3] += 10
    from genmodels.data.imageset import ImageSet

    return ImageSet(x.clamp(0, 16) / 16, torch.tensor([0] * 20 + [1] * 20), levels=17)


def test_declarations_are_complete(fitted):
    assert fitted.name and fitted.description
    assert fitted.family in ("flow", "autoregressive", "vae", "diffusion", "gan", "classical")
    assert fitted.num_parameters() > 0
    assert isinstance(fitted.likelihood, Likelihood)
    assert all(isinstance(c, Capability) for c in fitted.capabilities)


def test_pixelwise_models_split_their_code_over_the_pixels(fitted, tiny_images_module):
    x = tiny_images_module.images[:6]
    if not fitted.supports(Capability.PIXELWISE):
        with pytest.raises(CapabilityError, match="split its likelihood over the pixels"):
            fitted.pixel_nll(x)
        return
    with torch.no_grad():
        per_pixel = fitted.pixel_nll(x)
        assert per_pixel.shape == (6, 4, 4) and torch.isfinite(per_pixel).all()
        if fitted.discrete:  # autoregressive: the terms are the whole code length
            assert torch.allclose(per_pixel.flatten(1).sum(1), -fitted.log_prob(x), atol=1e-4)
        else:  # a VAE's reconstruction term: the ELBO adds a KL >= 0 to it
            assert (per_pixel.flatten(1).sum(1) > 0).all()


def test_samples_have_shape_range_and_are_seeded(fitted):
    if not fitted.supports(Capability.SAMPLE):
        with pytest.raises(CapabilityError):
            fitted.sample(2)
        return
    s = fitted.sample(6, generator=torch.Generator().manual_seed(1))
    assert s.shape == (6, 1, 4, 4)
    assert torch.isfinite(s).all() and s.min() >= 0 and s.max() <= 1
    again = fitted.sample(6, generator=torch.Generator().manual_seed(1))
    assert torch.equal(s, again)


def test_scores_are_per_example_and_finite(fitted, tiny_images_module):
    x = tiny_images_module.images[:7]
    if fitted.likelihood is Likelihood.NONE:
        for method in (fitted.log_prob, fitted.elbo, fitted.bits_per_dim):
            with pytest.raises(CapabilityError, match="cannot"):
                method(x)
        return
    ll = fitted.log_likelihood(x)
    assert ll.shape == (7,) and torch.isfinite(ll).all()
    # per example: scoring one image alone gives its score in the batch
    assert torch.allclose(fitted.log_likelihood(x[3:4])[0], ll[3], rtol=1e-4, atol=1e-3)
    assert torch.isfinite(fitted.elbo(x)).all()
    if fitted.likelihood is Likelihood.EXACT:
        assert torch.allclose(fitted.log_prob(x), ll)
    else:
        with pytest.raises(CapabilityError, match="exact log_prob"):
            fitted.log_prob(x)


def test_smooth_likelihood_matches_on_the_grid_and_has_gradients(fitted, tiny_images_module):
    x = tiny_images_module.images[:5]
    if not fitted.supports(Capability.DIFFERENTIABLE):
        with pytest.raises(CapabilityError, match="differentiable"):
            fitted.smooth_log_likelihood(x)
        return
    # equal to the discrete score at every grid image ...
    assert torch.allclose(fitted.smooth_log_likelihood(x), fitted.log_likelihood(x), atol=1e-3)
    # ... and differentiable between grid values: a finite, non-zero gradient off the grid
    y = (x + 0.3 / tiny_images_module.levels).clamp(0, 1).requires_grad_(True)
    fitted.smooth_log_likelihood(y).sum().backward()
    assert y.grad is not None and torch.isfinite(y.grad).all() and y.grad.abs().sum() > 0


def test_conditional_sampling_only_where_declared(fitted):
    labels = torch.tensor([0, 1])
    if fitted.supports(Capability.CONDITIONAL):
        assert fitted.sample(2, condition=labels).shape == (2, 1, 4, 4)
    else:
        with pytest.raises(CapabilityError):
            fitted.sample(2, condition=labels)


def test_save_and_load_give_identical_behaviour(fitted, tiny_images_module, tmp_path):
    loaded = load_model(save_model(fitted, tmp_path / "m.pt"))
    assert type(loaded) is type(fitted)
    x = tiny_images_module.images
    if fitted.likelihood is not Likelihood.NONE:
        assert torch.allclose(loaded.log_likelihood(x), fitted.log_likelihood(x), atol=1e-5)
    if fitted.supports(Capability.SAMPLE):
        a = fitted.sample(4, generator=torch.Generator().manual_seed(3))
        b = loaded.sample(4, generator=torch.Generator().manual_seed(3))
        assert torch.equal(a, b)


def test_fitting_improves_on_the_untrained_model(fitted, tiny_images_module):
    x = tiny_images_module.images
    if fitted.likelihood is Likelihood.NONE:
        with pytest.raises(CapabilityError):
            fitted.log_likelihood(x)
        return
    cls = type(fitted)
    seed_all(0)
    fresh = cls(tiny_images_module.image_shape, tiny_images_module.levels, **tiny_params(cls))
    with torch.no_grad():
        before = fresh.eval().log_likelihood(x).mean()
        after = fitted.log_likelihood(x).mean()
    assert after > before


EXACT_NAMES = [m.name for m in list_models() if m.likelihood == Likelihood.EXACT.value]


def _all_images(shape: tuple[int, int, int], levels: int) -> torch.Tensor:
    d = shape[0] * shape[1] * shape[2]
    digits = torch.arange(levels**d)[:, None] // levels ** torch.arange(d)[None] % levels
    return digits.float().view(-1, *shape) / (levels - 1)


@pytest.mark.parametrize("name", EXACT_NAMES)
def test_exact_models_are_normalized_on_a_tiny_domain(name):
    # Fit on 2x2 images with 6 levels, then sum the probabilities of all images. A discrete model
    # (a pmf over the levels) must sum to one. A continuous density on dequantized images is
    # checked on a 24-level grid of the same 2x2 domain (a fine midpoint rule): its sum is the
    # density's mass inside the unit cube, so at most one and most of it for a model fit to data
    # there. A wrong Jacobian, a missing -D log(levels) or a double-counted class prior would
    # miss these by large factors.
    cls = get_model_class(name)
    shape, levels = (1, 2, 2), 6
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, levels, (60, *shape), generator=g)
    x[:30] = x[:30] // 3  # two kinds of images: dark ones and anything
    data = ImageSet(x.float() / (levels - 1), torch.arange(60) % 2, levels=levels)
    seed_all(0)
    model = cls(shape, levels, **tiny_params(cls))
    fit_model(model, data, data, TrainConfig(max_epochs=3, batch_size=30, patience=0))
    if not cls.discrete:
        fine = cls(shape, 24, **tiny_params(cls))
        fine.load_state_dict(model.state_dict())
        model = fine
    model.eval()
    with torch.no_grad():
        images = _all_images(shape, model.levels)
        total = torch.cat([model.log_prob(b) for b in images.split(50_000)]).double().exp().sum()
    if cls.discrete:
        assert total.item() == pytest.approx(1.0, abs=1e-3)
    else:
        assert 0.5 < total.item() <= 1.0 + 1e-2


@pytest.mark.parametrize(
    "name", [m.name for m in list_models() if not get_model_class(m.name).closed_form]
)
def test_a_bare_pytorch_loop_over_the_loss_trains_without_lightning(name, tiny_images_module):
    """``training_loss`` (``adversarial_step`` for GANs) is the per-step work of training_step,
    usable outside a Trainer: the benchmarks time it against priorworks' Lightning path."""
    cls = get_model_class(name)
    seed_all(0)
    model = cls(tiny_images_module.image_shape, tiny_images_module.levels, **tiny_params(cls))
    model.train()
    batch = (tiny_images_module.images, tiny_images_module.labels)
    before = [p.detach().clone() for p in model.parameters()]
    optimizers = model.configure_optimizers()
    if model.automatic_optimization:
        torch.manual_seed(1)
        first = float(model.training_loss(batch).detach())
        for _ in range(30):
            optimizers.zero_grad()
            model.training_loss(batch).backward()
            optimizers.step()
        torch.manual_seed(1)  # the same noise draws as the first evaluation
        assert float(model.training_loss(batch).detach()) < first
    else:
        loss_d, loss_g = model.adversarial_step(batch, *optimizers, torch.Tensor.backward)
        assert torch.isfinite(loss_d) and torch.isfinite(loss_g)
        assert not loss_d.requires_grad  # detached: nothing keeps the graph alive
    moved = [not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True)]
    assert all(moved)


CONDITIONAL_LIKELIHOOD = [
    m.name
    for m in list_models()
    if m.name.endswith("-cond") and get_model_class(m.name).likelihood is not Likelihood.NONE
]


@pytest.mark.parametrize("name", CONDITIONAL_LIKELIHOOD)
def test_conditional_models_validate_on_the_likelihood_at_the_known_labels(
    name, tiny_images_module
):
    cls = get_model_class(name)
    seed_all(0)
    model = cls(tiny_images_module.image_shape, tiny_images_module.levels, **tiny_params(cls))
    config = TrainConfig(max_epochs=1, batch_size=20, patience=0)
    fit = fit_model(model, tiny_images_module, tiny_images_module, config)
    x, y = tiny_images_module.images, tiny_images_module.labels
    with torch.no_grad():
        cond_bpd = -model.conditional_log_likelihood(x, y) / (model.num_dims * math.log(2))
    if cls.likelihood is Likelihood.EXACT:  # deterministic: the logged value is reproduced
        assert fit.best_score == pytest.approx(float(cond_bpd.mean()), rel=1e-4)
        # log p(x) = log sum_k pi_k p(x | k): the marginal is the mixture of the conditionals
        with torch.no_grad():
            per_class = torch.stack(
                [model.conditional_log_likelihood(x, torch.full_like(y, k)) for k in range(2)]
            )
        mixture = torch.logsumexp(per_class + model.log_class_prior[:, None], dim=0)
        assert torch.allclose(mixture, model.log_likelihood(x), atol=1e-3)
    assert fit.best_score is not None and math.isfinite(fit.best_score)
    assert torch.isfinite(cond_bpd).all()


@pytest.mark.parametrize("name", ["realnvp", "realnvp-cond", "pixelcnn", "pixelcnn-cond"])
def test_weight_decay_reaches_the_optimizer_and_survives_saving(name, tmp_path):
    """The L2 regularization Ren et al. give their likelihood-ratio background."""
    cls = get_model_class(name)
    model = cls((1, 4, 4), 17, **{**tiny_params(cls), "weight_decay": 0.05})
    (group,) = model.configure_optimizers().param_groups
    assert group["weight_decay"] == 0.05
    plain = cls((1, 4, 4), 17, **tiny_params(cls)).configure_optimizers()
    assert plain.param_groups[0]["weight_decay"] == 0.0
    loaded = load_model(save_model(model, tmp_path / "m.pt"))
    assert loaded.configure_optimizers().param_groups[0]["weight_decay"] == 0.05

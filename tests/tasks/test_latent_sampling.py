"""Sampling a VAE where its training images' codes lie (ex-post code density)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genmodels.classical.gmm import GMM
from genmodels.data.imageset import on_grid
from genmodels.errors import CapabilityError
from genmodels.vae.module import VAE, ConditionalVAE
from tasks.latent_sampling import (
    class_interpolation_sampler,
    fit_code_mixture,
    latent_mixture_sampler,
    latent_moves,
)


def test_the_code_mixture_draws_where_the_codes_are_not_between_them():
    rng = np.random.default_rng(0)
    codes = np.concatenate([rng.normal(-4, 0.3, (200, 2)), rng.normal(4, 0.3, (200, 2))])
    draw = fit_code_mixture(codes, 2, seed=0)
    z = draw(2000, torch.Generator().manual_seed(1))
    assert z.shape == (2000, 2) and z.dtype == torch.float64
    distance = (z.abs() - 4).abs().max(1).values
    assert float((distance < 1.2).float().mean()) > 0.99  # around the two clusters ...
    assert float((z[:, 0].abs() < 2).float().mean()) < 0.01  # ... never in the gap between
    share = float((z[:, 0] > 0).double().mean())
    assert 0.45 < share < 0.55  # each cluster as often as it holds codes
    again = draw(2000, torch.Generator().manual_seed(1))
    assert torch.equal(z, again)  # seeded


def test_a_vae_is_sampled_as_decoded_mean_images_on_its_grid():
    torch.manual_seed(0)
    model = VAE((1, 4, 4), 17, hidden_channels=8, latent_dim=3)
    images = torch.rand(64, 1, 4, 4)
    sample = latent_mixture_sampler(model, images, components=4, seed=0)
    x = sample(10, torch.Generator().manual_seed(0))
    assert x.shape == (10, 1, 4, 4)
    assert torch.equal(x, torch.round(x * 16) / 16) and x.min() >= 0 and x.max() <= 1
    assert torch.equal(x, sample(10, torch.Generator().manual_seed(0)))
    assert sample(0, torch.Generator()).shape == (0, 1, 4, 4)


def test_models_without_codes_or_with_labelled_codes_are_refused():
    images = torch.rand(16, 1, 4, 4)
    for model in (
        GMM((1, 4, 4), 17, n_components=1),
        ConditionalVAE((1, 4, 4), 17, hidden_channels=8, latent_dim=3, num_classes=2),
    ):
        with pytest.raises(CapabilityError, match="encoder and a decoder"):
            latent_mixture_sampler(model, images, components=2, seed=0)
    with pytest.raises(ValueError, match="at least as many images"):
        latent_mixture_sampler(VAE((1, 4, 4), 17, latent_dim=3), images[:3], 4, seed=0)


def _on_a_segment(z: torch.Tensor, ends: torch.Tensor) -> bool:
    """Whether ``z (D,)`` lies on the segment between two different rows of ``ends``."""
    for i in range(len(ends)):
        for j in range(len(ends)):
            if i == j:
                continue
            d = ends[j] - ends[i]
            t = float((z - ends[i]) @ d / (d @ d))
            if 0 <= t <= 1 and torch.allclose(ends[i] + t * d, z, atol=1e-5):
                return True
    return False


def test_class_interpolation_decodes_between_two_codes_of_the_named_class():
    torch.manual_seed(0)
    model = VAE((1, 4, 4), 17, hidden_channels=8, latent_dim=3)
    images = torch.rand(9, 1, 4, 4)
    labels = torch.tensor([0, 0, 0, 1, 1, 1, 1, 2, 2])
    decoded: list[torch.Tensor] = []
    decode = model.decode
    model.decode = lambda z: decoded.append(z.detach().clone()) or decode(z)  # type: ignore[method-assign]
    sample = class_interpolation_sampler(model, images, labels)
    with torch.no_grad():
        codes = model.encode(images).double()
    wanted = torch.tensor([0, 1, 2, 0, 1, 2, 2, 1, 0, 1, 1, 0])
    x = sample(wanted, torch.Generator().manual_seed(3))
    assert x.shape == (12, 1, 4, 4)
    assert torch.equal(x, torch.round(x * 16) / 16) and x.min() >= 0 and x.max() <= 1
    (z,) = decoded
    for code, c in zip(z.double(), wanted.tolist(), strict=True):
        assert _on_a_segment(code, codes[labels == c])  # between two images of its class ...
        assert not any(torch.allclose(code, e, atol=1e-4) for e in codes)  # ... not one of them
    assert torch.equal(x, sample(wanted, torch.Generator().manual_seed(3)))  # seeded
    with pytest.raises(ValueError, match="class 3 has no labelled image"):
        sample(torch.tensor([0, 3]), torch.Generator())


def test_class_detail_moves_a_labelled_image_of_the_class_by_the_decoded_change():
    torch.manual_seed(0)
    model = VAE((1, 4, 4), 17, hidden_channels=8, latent_dim=3).eval()
    images = torch.round(torch.rand(7, 1, 4, 4) * 16) / 16
    labels = torch.tensor([0, 0, 0, 1, 1, 1, 1])
    decoded: list[torch.Tensor] = []
    decode = model.decode
    model.decode = lambda z: decoded.append(z.detach().clone()) or decode(z)  # type: ignore[method-assign]
    sample = class_interpolation_sampler(model, images, labels, keep_detail=True)
    wanted = torch.tensor([0, 1, 1, 0, 1, 0])
    x = sample(wanted, torch.Generator().manual_seed(5))
    assert torch.equal(x, torch.round(x * 16) / 16) and x.min() >= 0 and x.max() <= 1
    with torch.no_grad():
        own = on_grid(decode(model.encode(images)), 17)  # D(z_a) as the sampler grids it
        moved = on_grid(decode(decoded[-1].float()), 17)  # D(z_t) of each draw
    plain = class_interpolation_sampler(model, images, labels)(
        wanted, torch.Generator().manual_seed(5)
    )
    assert torch.equal(plain, moved)  # the same draws of (a, b, t) as without the detail
    for i, c in enumerate(wanted.tolist()):
        candidates = [
            on_grid(images[a] + moved[i] - own[a], 17) for a in torch.nonzero(labels == c).flatten()
        ]
        assert any(torch.allclose(x[i], cand) for cand in candidates)
    assert not torch.allclose(x, plain)  # the detail is there: not the blurred decode


def test_latent_moves_carry_each_anchor_towards_a_draw_of_the_model():
    torch.manual_seed(0)
    model = VAE((1, 4, 4), 17, hidden_channels=8, latent_dim=3).eval()
    anchors = torch.round(torch.rand(5, 1, 4, 4) * 16) / 16
    draws = torch.round(torch.rand(6, 1, 4, 4) * 16) / 16
    move = latent_moves(model, lambda n, g: draws[:n])
    x = move(anchors, 6, torch.Generator().manual_seed(2))
    assert x.shape == (6, 1, 4, 4) and torch.equal(x, torch.round(x * 16) / 16)
    with torch.no_grad():
        z_s, z_a = model.encode(draws).double(), model.encode(anchors).double()
    for i in range(6):  # some anchor a and some t in [0, 1]: x_a + D(z_t) - D(z_a), z_t -> z_s
        found = False
        for a in range(5):
            for t in torch.linspace(0, 1, 201, dtype=torch.float64):
                z_t = ((1 - t) * z_a[a] + t * z_s[i]).float()[None]
                with torch.no_grad():
                    change = on_grid(model.decode(z_t), 17) - on_grid(
                        model.decode(z_a[a].float()[None]), 17
                    )
                if torch.allclose(x[i], on_grid(anchors[a] + change, 17)[0]):
                    found = True
                    break
            if found:
                break
        assert found, f"draw {i} is no move of an anchor towards the model's draw"
    assert torch.equal(x, move(anchors, 6, torch.Generator().manual_seed(2)))  # seeded
    assert move(anchors, 0, torch.Generator()).shape == (0, 1, 4, 4)
    with pytest.raises(ValueError, match="at least one anchor"):
        move(anchors[:0], 3, torch.Generator())
    with pytest.raises(CapabilityError, match="encoder and a decoder"):
        latent_moves(GMM((1, 4, 4), 17, n_components=1), lambda n, g: draws[:n])


def test_class_interpolation_refuses_models_without_codes():
    with pytest.raises(CapabilityError, match="encoder and a decoder"):
        class_interpolation_sampler(
            GMM((1, 4, 4), 17, n_components=1), torch.rand(4, 1, 4, 4), torch.tensor([0, 0, 1, 1])
        )

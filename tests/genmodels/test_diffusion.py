"""DDPM on MONAI: the bound is finite, tighter on training-like data than on noise; DDIM samples."""

import pytest
import torch
from zoo_params import tiny_params

from genmodels.data.imageset import ImageSet
from genmodels.diffusion import DDPM
from genmodels.training import TrainConfig, fit_model, seed_all


@pytest.fixture(scope="module")
def trained():
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 6, (40, 1, 4, 4), generator=g).float()
    x[:20, :, 1:3, 1:3] += 10
    ims = ImageSet(x.clamp(0, 16) / 16, None, levels=17)
    seed_all(0)
    model = DDPM((1, 4, 4), 17, **tiny_params(DDPM))
    fit_model(model, ims, ims, TrainConfig(max_epochs=40, batch_size=20, patience=0))
    return model.eval(), ims.images


def test_bound_is_finite_and_lower_on_training_like_data_than_on_noise(trained):
    model, x = trained
    noise = (
        torch.round(torch.rand(40, 1, 4, 4, generator=torch.Generator().manual_seed(5)) * 16) / 16
    )
    with torch.no_grad():
        data_bpd, noise_bpd = model.bits_per_dim(x), model.bits_per_dim(noise)
    assert torch.isfinite(data_bpd).all() and torch.isfinite(noise_bpd).all()
    assert data_bpd.mean() < noise_bpd.mean() - 5


def test_bound_is_deterministic_and_batch_independent(trained):
    model, x = trained
    with torch.no_grad():
        whole = model.elbo(x)
        parts = torch.cat([model.elbo(x[i : i + 9]) for i in range(0, 40, 9)])
    assert torch.allclose(whole, parts, rtol=1e-5, atol=1e-3)


def test_odd_image_sizes_are_padded_for_the_unet():
    model = DDPM((1, 5, 7), 17, **tiny_params(DDPM)).eval()
    x = torch.rand(3, 1, 5, 7)
    with torch.no_grad():
        assert model.elbo(x).shape == (3,)
        assert model.sample(2, generator=torch.Generator().manual_seed(0)).shape == (2, 1, 5, 7)


def test_ddim_steps_are_configurable(trained):
    model, _ = trained
    a = model.sample(4, generator=torch.Generator().manual_seed(0), steps=2)
    b = model.sample(4, generator=torch.Generator().manual_seed(0), steps=10)
    assert a.shape == b.shape == (4, 1, 4, 4)
    assert not torch.equal(a, b)

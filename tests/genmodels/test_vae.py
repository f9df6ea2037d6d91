"""VAE bounds: the importance-weighted estimate tightens with K and sits above the ELBO."""

import pytest
import torch

from genmodels.training import TrainConfig, fit_model, seed_all
from genmodels.vae import VAE


@pytest.fixture(scope="module")
def trained():
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 6, (60, 1, 4, 4), generator=g).float()
    x[:30, :, 1:3, 1:3] += 10
    from genmodels.data.imageset import ImageSet

    ims = ImageSet(x.clamp(0, 16) / 16, None, levels=17)
    seed_all(0)
    model = VAE((1, 4, 4), 17, hidden_channels=16, latent_dim=4, lr=3e-3)
    fit_model(model, ims, ims, TrainConfig(max_epochs=150, batch_size=20, patience=0))
    return model.eval(), ims.images


def test_importance_weighted_estimate_rises_with_k_and_bounds_the_elbo(trained):
    model, x = trained
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        elbo = model.elbo(x).mean()
        # average over examples and 10 independent draws: the claim is about expectations
        iw = {
            k: torch.stack([model.importance_weighted(x, k, g).mean() for _ in range(10)]).mean()
            for k in (1, 8, 64)
        }
    assert iw[8] > iw[1] and iw[64] > iw[8]
    assert iw[64] > elbo


def test_training_lowers_the_bound(trained):
    model, x = trained
    seed_all(0)
    fresh = VAE((1, 4, 4), 17, hidden_channels=16, latent_dim=4).eval()
    with torch.no_grad():
        assert model.bits_per_dim(x).mean() < fresh.bits_per_dim(x).mean() - 0.5


def test_encode_decode_shapes_and_range(trained):
    model, x = trained
    z = model.encode(x[:5])
    assert z.shape == (5, 4)
    recon = model.decode(z)
    assert recon.shape == (5, 1, 4, 4) and recon.min() >= 0 and recon.max() <= 1
    # reconstructions are closer to their own image than to the other group's
    err_own = (recon - x[:5]).abs().mean()
    err_other = (recon - x[30:35]).abs().mean()
    assert err_own < err_other


def test_mean_samples_lie_on_the_level_grid(trained):
    model, _ = trained
    s = model.sample(8, generator=torch.Generator().manual_seed(0), use_mean=True)
    assert torch.allclose(s * 16, torch.round(s * 16))


def test_eval_scores_do_not_depend_on_the_batch(trained):
    model, x = trained
    with torch.no_grad():
        whole = model.elbo(x)
        parts = torch.cat([model.elbo(x[i : i + 7]) for i in range(0, len(x), 7)])
    assert torch.allclose(whole, parts, atol=1e-4)


def test_conditional_vae_follows_its_label():
    from genmodels.vae import ConditionalVAE

    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 6, (60, 1, 4, 4), generator=g).float()
    x[:30, :, 1:3, 1:3] += 10  # label 0: bright centre
    from genmodels.data.imageset import ImageSet

    ims = ImageSet(x.clamp(0, 16) / 16, torch.tensor([0] * 30 + [1] * 30), levels=17)
    seed_all(0)
    model = ConditionalVAE((1, 4, 4), 17, hidden_channels=16, latent_dim=4, lr=3e-3, num_classes=2)
    fit_model(model, ims, ims, TrainConfig(max_epochs=40, batch_size=20, patience=0))
    gen = torch.Generator().manual_seed(0)
    bright = model.sample(200, condition=torch.zeros(200, dtype=torch.long), generator=gen)
    dark = model.sample(200, condition=torch.ones(200, dtype=torch.long), generator=gen)
    assert bright[:, :, 1:3, 1:3].mean() > dark[:, :, 1:3, 1:3].mean() + 0.3
    # the class prior was learned from the labels (30 / 30, +1 smoothing)
    assert torch.allclose(model.log_class_prior.exp(), torch.tensor([0.5, 0.5]))

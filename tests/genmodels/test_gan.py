"""DCGAN: trains by manual optimization, moves its samples toward the data, refuses densities."""

import torch

from genmodels.data.imageset import ImageSet
from genmodels.gan import DCGAN
from genmodels.training import TrainConfig, fit_model, seed_all


def _bright_square_images(n: int = 64) -> ImageSet:
    x = torch.zeros(n, 1, 8, 8)
    x[:, :, 2:6, 2:6] = 1.0
    return ImageSet(x, None, levels=2)


def test_training_moves_samples_toward_the_data():
    data = _bright_square_images()
    seed_all(0)
    model = DCGAN((1, 8, 8), 2, hidden_channels=16, latent_dim=8, lr=2e-3)
    g = torch.Generator().manual_seed(0)
    before = (model.sample(64, generator=g) - data.images).abs().mean()
    result = fit_model(model, data, data, TrainConfig(max_epochs=40, batch_size=32))
    after = (
        (model.sample(64, generator=torch.Generator().manual_seed(0)) - data.images).abs().mean()
    )
    assert result.epochs == 40  # no early stopping without a validation likelihood
    assert after < before - 0.1


def test_single_samples_use_running_batch_norm_statistics():
    # In training mode BatchNorm1d cannot normalize one example; sampling must use eval mode
    # and leave the module's mode as it found it.
    seed_all(0)
    model = DCGAN((1, 8, 8), 256, hidden_channels=8, latent_dim=4).train()
    one = model.sample(1, generator=torch.Generator().manual_seed(2))
    assert one.shape == (1, 1, 8, 8)
    assert model.generator.training

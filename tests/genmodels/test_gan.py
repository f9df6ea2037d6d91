"""DCGAN: trains by manual optimization, moves its samples toward the data, refuses densities."""

import pytest
import torch

from genmodels.data.imageset import ImageSet
from genmodels.gan import DCGAN, ConditionalDCGAN
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


def _two_class_images(n: int = 64) -> ImageSet:
    # class 0: bright left half; class 1: bright right half
    x = torch.zeros(n, 1, 8, 8)
    y = torch.arange(n) % 2
    x[y == 0, :, :, :4] = 1.0
    x[y == 1, :, :, 4:] = 1.0
    return ImageSet(x, y, levels=2)


def test_conditional_gan_samples_follow_the_label():
    data = _two_class_images()
    seed_all(0)
    model = ConditionalDCGAN((1, 8, 8), 2, hidden_channels=16, latent_dim=8, lr=2e-3, num_classes=2)
    fit_model(model, data, data, TrainConfig(max_epochs=60, batch_size=32))
    g = torch.Generator().manual_seed(0)
    left = model.sample(32, condition=torch.zeros(32, dtype=torch.long), generator=g)
    right = model.sample(32, condition=torch.ones(32, dtype=torch.long), generator=g)
    # the label, not the noise, decides which half is bright
    assert left[..., :4].mean() - left[..., 4:].mean() > 0.5
    assert right[..., 4:].mean() - right[..., :4].mean() > 0.5


def test_conditional_gan_refuses_bad_labels():
    model = ConditionalDCGAN((1, 8, 8), 2, hidden_channels=8, latent_dim=4, num_classes=2)
    with pytest.raises(ValueError, match=r"labels in \[0, 1\]"):
        model.sample(2, condition=torch.tensor([0, 5]))

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


def test_wgan_gp_training_moves_samples_toward_the_data():
    data = _bright_square_images()
    seed_all(0)
    model = DCGAN((1, 8, 8), 2, hidden_channels=16, latent_dim=8, lr=2e-3, loss="wgan-gp")
    before = (model.sample(64, generator=torch.Generator().manual_seed(0)) - data.images).abs()
    fit_model(model, data, data, TrainConfig(max_epochs=40, batch_size=16))
    after = (model.sample(64, generator=torch.Generator().manual_seed(0)) - data.images).abs()
    assert after.mean() < before.mean() - 0.1


def test_conditional_wgan_gp_samples_follow_the_label():
    data = _two_class_images()
    seed_all(0)
    model = ConditionalDCGAN(
        (1, 8, 8), 2, hidden_channels=16, latent_dim=8, lr=2e-3, num_classes=2, loss="wgan-gp",
        critic_steps=2,
    )  # fmt: skip
    fit_model(model, data, data, TrainConfig(max_epochs=60, batch_size=16))
    g = torch.Generator().manual_seed(0)
    left = model.sample(32, condition=torch.zeros(32, dtype=torch.long), generator=g)
    right = model.sample(32, condition=torch.ones(32, dtype=torch.long), generator=g)
    assert left[..., :4].mean() - left[..., 4:].mean() > 0.5
    assert right[..., 4:].mean() - right[..., :4].mean() > 0.5


class _LinearCritic(torch.nn.Module):
    """D(x) = <w, x>: its gradient is w everywhere, so the penalty is known in closed form."""

    def __init__(self, w: torch.Tensor) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(w)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return x.flatten(1) @ self.w


@pytest.mark.parametrize("norm", [0.5, 1.0, 3.0])
def test_gradient_penalty_of_a_linear_critic_is_weight_times_squared_norm_gap(norm):
    model = DCGAN((1, 4, 4), 2, hidden_channels=4, latent_dim=2, loss="wgan-gp", gp_weight=10.0)
    w = torch.randn(16, generator=torch.Generator().manual_seed(0))
    model.discriminator = _LinearCritic(norm * w / w.norm())
    real, fake = torch.rand(8, 1, 4, 4), torch.rand(8, 1, 4, 4)
    penalty = model.gradient_penalty(real, fake, None)
    assert penalty.item() == pytest.approx(10.0 * (norm - 1.0) ** 2, abs=1e-5)
    penalty.backward()  # the penalty trains the critic: it has a gradient in w
    assert (model.discriminator.w.grad.abs().sum() > 0) == (norm != 1.0)


def _moved(before: list[torch.Tensor], module: torch.nn.Module) -> bool:
    return any(not torch.equal(a, b) for a, b in zip(before, module.parameters(), strict=True))


def test_wgan_gp_generator_steps_once_every_critic_steps():
    model = DCGAN((1, 8, 8), 2, hidden_channels=8, latent_dim=4, loss="wgan-gp", critic_steps=3)
    data = _bright_square_images(16)
    opt_g, opt_d = model.configure_optimizers()
    assert opt_g.defaults["betas"] == (0.0, 0.9)
    moved_g, moved_d, losses_g = [], [], []
    for step in range(6):
        g0 = [p.detach().clone() for p in model.generator.parameters()]
        d0 = [p.detach().clone() for p in model.discriminator.parameters()]
        _, loss_g = model.adversarial_step(
            (data.images, None), opt_g, opt_d, torch.Tensor.backward, step
        )
        moved_g.append(_moved(g0, model.generator))
        moved_d.append(_moved(d0, model.discriminator))
        losses_g.append(loss_g is not None)
    assert moved_g == [True, False, False, True, False, False]
    assert losses_g == moved_g
    assert all(moved_d)


def test_bad_gan_settings_are_refused_by_name():
    with pytest.raises(ValueError, match="unknown GAN loss 'wgan'.*non-saturating, wgan-gp"):
        DCGAN((1, 8, 8), 2, loss="wgan")
    with pytest.raises(ValueError, match="critic_steps must be >= 1"):
        DCGAN((1, 8, 8), 2, loss="wgan-gp", critic_steps=0)

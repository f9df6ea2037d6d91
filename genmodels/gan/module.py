"""DCGAN with manual optimization: samples only, no likelihood."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor

from genmodels.conditional import ClassConditional
from genmodels.contract import Capability, GenerativeModel, Likelihood
from genmodels.gan.network import Discriminator, Generator
from genmodels.registry import register_model


@register_model
class DCGAN(GenerativeModel):
    """Generator and discriminator trained alternately with the non-saturating GAN loss.

    Declares no likelihood: density tasks refuse it before any weights load. Training keeps the
    last epoch's weights (a GAN has no validation likelihood to select on); the validation step
    logs the discriminator's mean probability for real and generated images.
    """

    name = "dcgan"
    family = "gan"
    description = "DCGAN-style GAN, non-saturating loss, manual optimization"
    likelihood = Likelihood.NONE
    capabilities = frozenset({Capability.SAMPLE})
    monitor = None
    tiny_params: ClassVar[dict[str, Any]] = {"hidden_channels": 8, "latent_dim": 4}

    def __init__(
        self,
        image_shape: tuple[int, int, int],
        levels: int = 256,
        hidden_channels: int = 32,
        latent_dim: int = 32,
        lr: float = 2e-4,
        num_classes: int = 0,
    ) -> None:
        super().__init__(image_shape, levels)
        self.save_hyperparameters()
        self.generator = Generator(self.image_shape, hidden_channels, latent_dim, num_classes)
        self.discriminator = Discriminator(self.image_shape, hidden_channels, num_classes)
        self.latent_dim, self.lr = latent_dim, lr
        self.automatic_optimization = False

    # Hooks the conditional variant overrides; the unconditional GAN ignores labels.
    def _labels(self, batch: tuple[Tensor, ...]) -> Tensor | None:
        return None

    def _generate(self, z: Tensor, labels: Tensor | None) -> Tensor:
        return self.generator(z)

    def _discriminate(self, x: Tensor, labels: Tensor | None) -> Tensor:
        return self.discriminator(x)

    @torch.no_grad()
    def sample(
        self, n: int, condition: Tensor | None = None, generator: torch.Generator | None = None
    ) -> Tensor:
        labels = self.resolve_condition(n, condition, generator)
        z = torch.randn(n, self.latent_dim, generator=generator).to(self.device)
        was_training = self.generator.training
        self.generator.eval()  # batch-norm running statistics: samples independent of n
        try:
            return self.to_levels(self._generate(z, labels).clamp(0, 1 - 1e-6))
        finally:
            self.generator.train(was_training)

    def training_step(self, batch: tuple[Tensor, ...], batch_idx: int) -> Tensor:
        opt_g, opt_d = self.optimizers()  # type: ignore[attr-defined]
        loss_d, loss_g = self.adversarial_step(batch, opt_g, opt_d, self.manual_backward)
        self.log_dict(
            {"train_loss_d": loss_d, "train_loss_g": loss_g},
            on_step=False,
            on_epoch=True,
            batch_size=len(batch[0]),
        )
        return (loss_d + loss_g).detach()

    def adversarial_step(
        self,
        batch: tuple[Tensor, ...],
        opt_g: Any,
        opt_d: Any,
        backward: Callable[[Tensor], None],
    ) -> tuple[Tensor, Tensor]:
        """One discriminator step, then one generator step; returns ``(loss_d, loss_g)``.

        ``backward`` is Lightning's ``manual_backward`` in training, ``Tensor.backward`` in a
        bare PyTorch loop over the same networks (``benchmarks/speed``)."""
        real, labels = batch[0], self._labels(batch)
        n = real.shape[0]
        z = torch.randn(n, self.latent_dim, device=real.device)
        fake = self._generate(z, labels)

        logits_real = self._discriminate(real, labels)
        logits_fake = self._discriminate(fake.detach(), labels)
        loss_d = F.binary_cross_entropy_with_logits(
            logits_real, torch.ones_like(logits_real)
        ) + F.binary_cross_entropy_with_logits(logits_fake, torch.zeros_like(logits_fake))
        opt_d.zero_grad()
        backward(loss_d)
        opt_d.step()

        logits_gen = self._discriminate(fake, labels)
        loss_g = F.binary_cross_entropy_with_logits(logits_gen, torch.ones_like(logits_gen))
        opt_g.zero_grad()
        backward(loss_g)
        opt_g.step()
        return loss_d.detach(), loss_g.detach()

    def validation_step(self, batch: tuple[Tensor, ...], batch_idx: int) -> Tensor | None:
        real, labels = batch[0], self._labels(batch)
        z = torch.randn(real.shape[0], self.latent_dim, device=real.device)
        fake = self._generate(z, labels)
        self.log_dict(
            {
                "val_d_real": torch.sigmoid(self._discriminate(real, labels)).mean(),
                "val_d_fake": torch.sigmoid(self._discriminate(fake, labels)).mean(),
            },
            on_step=False,
            on_epoch=True,
            batch_size=real.shape[0],
        )
        return None

    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        betas = (0.5, 0.999)
        return [
            torch.optim.Adam(self.generator.parameters(), lr=self.lr, betas=betas),
            torch.optim.Adam(self.discriminator.parameters(), lr=self.lr, betas=betas),
        ]


@register_model
class ConditionalDCGAN(ClassConditional, DCGAN):
    """Class-conditional DCGAN: one-hot labels join the generator's noise, and the
    discriminator scores (image, label) pairs with a projection head."""

    name = "dcgan-cond"
    description = "class-conditional DCGAN (projection discriminator)"
    capabilities = frozenset({Capability.SAMPLE, Capability.CONDITIONAL})
    tiny_params: ClassVar[dict[str, Any]] = {**DCGAN.tiny_params, "num_classes": 2}

    def __init__(
        self,
        image_shape: tuple[int, int, int],
        levels: int = 256,
        hidden_channels: int = 32,
        latent_dim: int = 32,
        lr: float = 2e-4,
        num_classes: int = 10,
    ) -> None:
        n_embed = max(num_classes, 1)  # _init_classes rejects < 1 with a clear message
        DCGAN.__init__(self, image_shape, levels, hidden_channels, latent_dim, lr, n_embed)
        self._init_classes(num_classes)

    def _labels(self, batch: tuple[Tensor, ...]) -> Tensor | None:
        return self.labels_of(batch)

    def _generate(self, z: Tensor, labels: Tensor | None) -> Tensor:
        assert labels is not None
        return self.generator(z, F.one_hot(labels, self.num_classes).to(z))

    def _discriminate(self, x: Tensor, labels: Tensor | None) -> Tensor:
        return self.discriminator(x, labels)

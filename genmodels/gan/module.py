"""DCGAN with manual optimization, non-saturating or WGAN-GP loss: samples only, no likelihood."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, get_args

import torch
import torch.nn.functional as F
from torch import Tensor

from genmodels.class_conditional import ClassConditional
from genmodels.contract import Capability, GenerativeModel, Likelihood
from genmodels.gan.network import Discriminator, Generator
from genmodels.registry import register_model

GanLoss = Literal["non-saturating", "wgan-gp"]
_LOSSES: tuple[str, ...] = get_args(GanLoss)


@register_model
class DCGAN(GenerativeModel):
    """Generator and discriminator trained alternately.

    ``loss="non-saturating"`` (Goodfellow et al. 2014): the discriminator is a real/fake
    classifier, one discriminator and one generator step per batch, Adam betas (0.5, 0.999).
    ``loss="wgan-gp"`` (Gulrajani et al. 2017): the discriminator is a critic of the Wasserstein-1
    distance, ``E[D(fake)] - E[D(real)] + gp_weight * E[(|grad D(x_hat)| - 1)^2]`` on random
    interpolates ``x_hat`` of real and generated images; the generator steps once every
    ``critic_steps`` critic steps, Adam betas (0.0, 0.9). The critic has no batch norm, which the
    per-example gradient penalty needs.

    Declares no likelihood: density tasks refuse it before any weights load. Training keeps the
    last epoch's weights (a GAN has no validation likelihood to select on); the validation step
    logs the discriminator's mean probability for real and generated images (non-saturating) or
    the critic's Wasserstein estimate ``E[D(real)] - E[D(fake)]`` (wgan-gp).
    """

    name = "dcgan"
    family = "gan"
    description = "DCGAN-style GAN, non-saturating or WGAN-GP loss, manual optimization"
    likelihood = Likelihood.NONE
    capabilities = frozenset({Capability.SAMPLE})
    monitor = None

    def __init__(
        self,
        image_shape: tuple[int, int, int],
        levels: int = 256,
        hidden_channels: int = 32,
        latent_dim: int = 32,
        lr: float = 2e-4,
        num_classes: int = 0,
        loss: GanLoss = "non-saturating",
        critic_steps: int | None = None,
        gp_weight: float = 10.0,
    ) -> None:
        super().__init__(image_shape, levels)
        if loss not in _LOSSES:
            raise ValueError(f"unknown GAN loss '{loss}'; choose one of {', '.join(_LOSSES)}")
        critic_steps = (5 if loss == "wgan-gp" else 1) if critic_steps is None else critic_steps
        if critic_steps < 1:
            raise ValueError(f"critic_steps must be >= 1, got {critic_steps}")
        if gp_weight < 0:
            raise ValueError(f"gp_weight must be >= 0, got {gp_weight}")
        self.save_hyperparameters()
        self.generator = Generator(self.image_shape, hidden_channels, latent_dim, num_classes)
        self.discriminator = Discriminator(self.image_shape, hidden_channels, num_classes)
        self.latent_dim, self.lr = latent_dim, lr
        self.loss, self.critic_steps, self.gp_weight = loss, critic_steps, gp_weight
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
        # the step count depends only on epoch and batch, so a resumed run keeps the cadence
        step = self.current_epoch * int(self.trainer.num_training_batches) + batch_idx
        loss_d, loss_g = self.adversarial_step(batch, opt_g, opt_d, self.manual_backward, step)
        logged = {"train_loss_d": loss_d}
        if loss_g is not None:  # critic-only steps of WGAN-GP have no generator loss
            logged["train_loss_g"] = loss_g
        self.log_dict(logged, on_step=False, on_epoch=True, batch_size=len(batch[0]))
        return loss_d if loss_g is None else (loss_d + loss_g).detach()

    def adversarial_step(
        self,
        batch: tuple[Tensor, ...],
        opt_g: Any,
        opt_d: Any,
        backward: Callable[[Tensor], None],
        step: int = 0,
    ) -> tuple[Tensor, Tensor | None]:
        """One discriminator step, then a generator step if ``step % critic_steps == 0``;
        returns ``(loss_d, loss_g)``, ``loss_g`` None where the generator did not step.

        ``backward`` is Lightning's ``manual_backward`` in training, ``Tensor.backward`` in a
        bare PyTorch loop over the same networks (``benchmarks/speed``)."""
        real, labels = batch[0], self._labels(batch)
        n = real.shape[0]
        z = torch.randn(n, self.latent_dim, device=real.device)
        generator_steps = step % self.critic_steps == 0
        with torch.set_grad_enabled(generator_steps and torch.is_grad_enabled()):
            fake = self._generate(z, labels)  # no graph kept on critic-only steps

        loss_d = self._discriminator_loss(real, fake.detach(), labels)
        opt_d.zero_grad()
        backward(loss_d)
        opt_d.step()
        if not generator_steps:
            return loss_d.detach(), None

        logits_gen = self._discriminate(fake, labels)
        if self.loss == "wgan-gp":
            loss_g = -logits_gen.mean()
        else:
            loss_g = F.binary_cross_entropy_with_logits(logits_gen, torch.ones_like(logits_gen))
        opt_g.zero_grad()
        backward(loss_g)
        opt_g.step()
        return loss_d.detach(), loss_g.detach()

    def _discriminator_loss(self, real: Tensor, fake: Tensor, labels: Tensor | None) -> Tensor:
        logits_real = self._discriminate(real, labels)
        logits_fake = self._discriminate(fake, labels)
        if self.loss == "non-saturating":
            return F.binary_cross_entropy_with_logits(
                logits_real, torch.ones_like(logits_real)
            ) + F.binary_cross_entropy_with_logits(logits_fake, torch.zeros_like(logits_fake))
        return logits_fake.mean() - logits_real.mean() + self.gradient_penalty(real, fake, labels)

    def gradient_penalty(self, real: Tensor, fake: Tensor, labels: Tensor | None) -> Tensor:
        """``gp_weight * E[(|grad_x D(x_hat)|_2 - 1)^2]``, ``x_hat`` uniform on the segments
        between real and generated images (the labels stay those of the pair)."""
        eps = torch.rand(real.shape[0], 1, 1, 1, device=real.device, dtype=real.dtype)
        x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
        (grad,) = torch.autograd.grad(
            self._discriminate(x_hat, labels).sum(), x_hat, create_graph=True
        )
        return self.gp_weight * ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()

    def validation_step(self, batch: tuple[Tensor, ...], batch_idx: int) -> Tensor | None:
        real, labels = batch[0], self._labels(batch)
        z = torch.randn(real.shape[0], self.latent_dim, device=real.device)
        fake = self._generate(z, labels)
        d_real, d_fake = self._discriminate(real, labels), self._discriminate(fake, labels)
        if self.loss == "wgan-gp":
            logged = {"val_wasserstein": d_real.mean() - d_fake.mean()}
        else:
            logged = {
                "val_d_real": torch.sigmoid(d_real).mean(),
                "val_d_fake": torch.sigmoid(d_fake).mean(),
            }
        self.log_dict(
            logged,
            on_step=False,
            on_epoch=True,
            batch_size=real.shape[0],
            sync_dist=True,
        )
        return None

    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        betas = (0.0, 0.9) if self.loss == "wgan-gp" else (0.5, 0.999)
        return [
            torch.optim.Adam(self.generator.parameters(), lr=self.lr, betas=betas),
            torch.optim.Adam(self.discriminator.parameters(), lr=self.lr, betas=betas),
        ]


@register_model
class ConditionalDCGAN(ClassConditional, DCGAN):
    """Class-conditional DCGAN: one-hot labels join the generator's noise, and the
    discriminator scores (image, label) pairs with a projection head."""

    name = "dcgan-cond"
    description = "class-conditional DCGAN (projection discriminator; non-saturating or WGAN-GP)"
    capabilities = frozenset({Capability.SAMPLE, Capability.CONDITIONAL})

    def __init__(
        self,
        image_shape: tuple[int, int, int],
        levels: int = 256,
        hidden_channels: int = 32,
        latent_dim: int = 32,
        lr: float = 2e-4,
        num_classes: int = 10,
        loss: GanLoss = "non-saturating",
        critic_steps: int | None = None,
        gp_weight: float = 10.0,
    ) -> None:
        n_embed = max(num_classes, 1)  # _init_classes rejects < 1 with a clear message
        DCGAN.__init__(
            self, image_shape, levels, hidden_channels, latent_dim, lr, n_embed,
            loss, critic_steps, gp_weight,
        )  # fmt: skip
        self._init_classes(num_classes)

    def _labels(self, batch: tuple[Tensor, ...]) -> Tensor | None:
        return self.labels_of(batch)

    def _generate(self, z: Tensor, labels: Tensor | None) -> Tensor:
        assert labels is not None
        return self.generator(z, F.one_hot(labels, self.num_classes).to(z))

    def _discriminate(self, x: Tensor, labels: Tensor | None) -> Tensor:
        return self.discriminator(x, labels)

"""Convolutional VAE: ELBO training, importance-weighted likelihood, encode/decode, sampling."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from genmodels.class_conditional import ClassConditional
from genmodels.contract import Capability, GenerativeModel, Likelihood
from genmodels.likelihoods import discretized_logistic_log_prob, sample_discretized_logistic
from genmodels.registry import register_model
from genmodels.vae.network import Decoder, Encoder

_EVAL_NOISE_SEED = 20240611


@register_model
class VAE(GenerativeModel):
    """Gaussian latent, diagonal Gaussian posterior, discretized-logistic pixel likelihood.

    ``elbo(x) = E_q[log p(x | z)] - KL(q(z | x) || N(0, I))`` per example, in nats of the discrete
    image. At evaluation the Monte-Carlo noise is a fixed draw shared by all examples, so a score
    does not depend on the batch it is computed in, and repeats exactly.
    """

    name = "vae"
    family = "vae"
    description = "convolutional VAE, discretized-logistic decoder, IWAE estimate of log p"
    likelihood = Likelihood.BOUND
    capabilities = frozenset(
        {Capability.SAMPLE, Capability.LATENT, Capability.DIFFERENTIABLE, Capability.PIXELWISE}
    )

    def __init__(
        self,
        image_shape: tuple[int, int, int],
        levels: int = 256,
        hidden_channels: int = 32,
        latent_dim: int = 16,
        eval_samples: int = 8,
        lr: float = 1e-3,
        num_classes: int = 0,
    ) -> None:
        super().__init__(image_shape, levels)
        self.save_hyperparameters()
        self.encoder = Encoder(self.image_shape, hidden_channels, latent_dim, num_classes)
        self.decoder = Decoder(self.image_shape, hidden_channels, latent_dim, num_classes)
        self.label_dim = num_classes
        self.latent_dim, self.eval_samples = latent_dim, eval_samples
        # The fixed evaluation draw, made once: a constant to tracers and exporters (ONNX), and
        # the same numbers as drawing it at every call from a generator seeded the same way.
        self.eval_noise: Tensor
        g = torch.Generator().manual_seed(_EVAL_NOISE_SEED)
        self.register_buffer(
            "eval_noise", torch.randn(eval_samples, 1, latent_dim, generator=g), persistent=False
        )

    # -- latent space ----------------------------------------------------------------------------
    def encode(self, x: Tensor) -> Tensor:
        """Posterior means ``(B, latent_dim)``."""
        self.check_input(x)
        return self.encoder(x)[0]

    def decode(self, z: Tensor) -> Tensor:
        """Decoder means as images ``(B, C, H, W)`` in ``[0, 1]``."""
        return self.decoder(z)[0].clamp(0, 1)

    def pixel_nll(self, x: Tensor) -> Tensor:
        """The reconstruction term per pixel at the posterior mean ``(B, H, W)``, in nats."""
        self.check_input(x)
        x = torch.round(x.clamp(0, 1) * (self.levels - 1)) / (self.levels - 1)
        mean, log_scale = self.decoder(self.encoder(x)[0])
        return -discretized_logistic_log_prob(x, mean, log_scale, self.levels).sum(1)

    # -- bounds ----------------------------------------------------------------------------------
    def _noise(
        self, k: int, n: int, like: Tensor, generator: torch.Generator | None = None
    ) -> Tensor:
        """``(k, n, latent)`` noise: fresh while training or with a generator; else a fixed draw.

        The fixed evaluation draw is shared by all examples: scores repeat exactly and do not
        depend on the batch. Pass a generator for independent draws (e.g. to average estimates).
        """
        if generator is not None:
            eps = torch.randn(k, n, self.latent_dim, generator=generator, dtype=like.dtype)
            return eps.to(like.device)
        if self.training:
            return torch.randn(k, n, self.latent_dim, device=like.device, dtype=like.dtype)
        if k == self.eval_samples and like.dtype == self.eval_noise.dtype:
            return self.eval_noise.to(like.device).expand(k, n, self.latent_dim)
        g = torch.Generator().manual_seed(_EVAL_NOISE_SEED)
        eps = torch.randn(k, 1, self.latent_dim, generator=g, dtype=like.dtype)
        return eps.to(like.device).expand(k, n, self.latent_dim)

    def _onehot(self, y: Tensor | None) -> Tensor | None:
        return None if y is None else F.one_hot(y.long(), self.label_dim).float()

    def _log_weights(
        self,
        x: Tensor,
        k: int,
        generator: torch.Generator | None = None,
        y: Tensor | None = None,
        snap: bool = True,
    ) -> tuple[Tensor, Tensor]:
        """Log importance weights ``(k, B)`` and the ELBO with analytic KL ``(B,)``.

        ``log w_k = log p(x|z_k) + log p(z_k) - log q(z_k|x)`` with ``z_k ~ q(z|x)``. ``snap``
        rounds ``x`` to the levels first; without it the bound is smooth in ``x``.
        """
        self.check_input(x)
        if snap:
            x = torch.round(x.clamp(0, 1) * (self.levels - 1)) / (self.levels - 1)
        onehot = self._onehot(y)
        mu, log_var = self.encoder(x, onehot)
        std = torch.exp(0.5 * log_var)
        eps = self._noise(k, x.shape[0], mu, generator)
        z = mu + std * eps  # (k, B, latent)
        onehot_k = None if onehot is None else onehot.repeat(k, 1)
        mean, log_scale = self.decoder(z.reshape(-1, self.latent_dim), onehot_k)
        xk = x.unsqueeze(0).expand(k, *x.shape).reshape(-1, *self.image_shape)
        log_px = discretized_logistic_log_prob(xk, mean, log_scale, self.levels).flatten(1).sum(1)
        log_px = log_px.view(k, -1)
        log_pz = -0.5 * (z**2 + math.log(2 * math.pi)).sum(-1)
        log_qz = -0.5 * (eps**2 + math.log(2 * math.pi) + log_var).sum(-1)
        kl = 0.5 * (mu**2 + log_var.exp() - 1.0 - log_var).sum(1)
        return log_px + log_pz - log_qz, log_px.mean(0) - kl

    def elbo(self, x: Tensor) -> Tensor:
        return self.conditional_elbo(x)

    def conditional_elbo(self, x: Tensor, y: Tensor | None = None, snap: bool = True) -> Tensor:
        """ELBO of ``log p(x | y)`` (``y`` ignored by unconditional models), ``(B,)``."""
        k = 1 if self.training else self.eval_samples
        return self._log_weights(x, k, None, y, snap)[1]

    def smooth_log_likelihood(self, y: Tensor) -> Tensor:
        return self.conditional_elbo(y, snap=False)

    def importance_weighted(
        self, x: Tensor, k: int = 64, generator: torch.Generator | None = None
    ) -> Tensor:
        """IWAE estimate ``log (1/k) sum_k w_k`` ``(B,)``; the bound on log p(x) tightens with k."""
        log_w, _ = self._log_weights(x, k, generator)
        return torch.logsumexp(log_w, dim=0) - math.log(k)

    # -- sampling --------------------------------------------------------------------------------
    @torch.no_grad()
    def sample(
        self,
        n: int,
        condition: Tensor | None = None,
        generator: torch.Generator | None = None,
        use_mean: bool = False,
    ) -> Tensor:
        """Draw ``z ~ N(0, I)`` and a pixel image from the decoder (or its mean)."""
        y = self.resolve_condition(n, condition, generator)
        z = torch.randn(n, self.latent_dim, generator=generator).to(self.device)
        mean, log_scale = self.decoder(z, self._onehot(y))
        if use_mean:
            return self.to_levels(mean.clamp(0, 1 - 1e-6))
        return sample_discretized_logistic(mean.cpu(), log_scale.cpu(), self.levels, generator).to(
            self.device
        )

    def training_log_likelihood(self, batch: tuple[Tensor, ...]) -> Tensor:
        return self.elbo(batch[0])


@register_model
class ConditionalVAE(ClassConditional, VAE):
    """Class-conditional VAE: one-hot labels enter the encoder head and the decoder input.

    Unlabelled scores use ``log sum_y pi_y exp(ELBO(x | y))``, a lower bound on ``log p(x)``.
    """

    name = "vae-cond"
    description = "class-conditional VAE; marginal ELBO over classes"
    # No LATENT: the posterior needs a label, so encode(x) alone is not offered.
    capabilities = frozenset({Capability.SAMPLE, Capability.CONDITIONAL, Capability.DIFFERENTIABLE})

    def __init__(
        self,
        image_shape: tuple[int, int, int],
        levels: int = 256,
        hidden_channels: int = 32,
        latent_dim: int = 16,
        eval_samples: int = 8,
        lr: float = 1e-3,
        num_classes: int = 10,
    ) -> None:
        n_embed = max(num_classes, 1)  # _init_classes rejects < 1 with a clear message
        VAE.__init__(
            self, image_shape, levels, hidden_channels, latent_dim, eval_samples, lr, n_embed
        )
        self._init_classes(num_classes)

    def encode(self, x: Tensor) -> Tensor:
        raise self._refuse("encode without a label; use encoder(x, onehot) directly")

    def elbo(self, x: Tensor) -> Tensor:
        return self.marginal(lambda y: self.conditional_elbo(x, y), x)

    def pixel_nll(self, x: Tensor) -> Tensor:  # a marginal over classes has no per-pixel split
        return GenerativeModel.pixel_nll(self, x)

    def smooth_log_likelihood(self, y: Tensor) -> Tensor:
        return self.marginal(lambda label: self.conditional_elbo(y, label, snap=False), y)

    def conditional_log_likelihood(self, x: Tensor, labels: Tensor) -> Tensor:
        return self.conditional_elbo(x, labels)

    def training_log_likelihood(self, batch: tuple[Tensor, ...]) -> Tensor:
        return self.conditional_elbo(batch[0], self.labels_of(batch))

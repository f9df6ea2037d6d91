"""The contract every generative model of the zoo fulfils.

A model is a :class:`pytorch_lightning.LightningModule` that declares, at class level, what kind
of likelihood it has and what it can do. Tasks read these declarations *before* any weights are
loaded and refuse a model that lacks what they need.

Data convention (all models): images ``x`` of shape ``(B, C, H, W)`` with values in ``[0, 1]``,
quantized to ``levels`` evenly spaced values (``levels = 256`` for 8-bit images, 17 for
scikit-learn digits). Log-likelihoods are per example, in nats, of the *discrete* image: a model of
a continuous density ``p(y)`` on the dequantized ``y`` reports ``log p(y) - D log(levels)`` at the
bin centre, the usual estimate of the pixel bin's probability mass (its sum over all images is at
most the density's mass inside the unit cube, so at most one).
"""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Any, ClassVar

import pytorch_lightning as pl
import torch
from torch import Tensor

from genmodels.errors import CapabilityError


class Likelihood(StrEnum):
    """How a model scores data: exactly, by a bound, or not at all."""

    EXACT = "exact"
    BOUND = "bound"
    NONE = "none"


class Capability(StrEnum):
    """What a model can do beyond scoring."""

    SAMPLE = "sample"
    CONDITIONAL = "conditional"
    LATENT = "latent"
    #: ``smooth_log_likelihood``: a log-likelihood differentiable in the pixel values.
    DIFFERENTIABLE = "differentiable"
    #: ``pixel_nll``: the negative log-likelihood split over the pixels (where the code is spent).
    PIXELWISE = "pixelwise"
    #: ``local_features``: what the model's network computes about each place of an image.
    LOCAL_FEATURES = "local-features"


def bits_per_dim(log_likelihood: Tensor, num_dims: int) -> Tensor:
    """Convert per-example log-likelihoods in nats into bits per dimension.

    Args:
        log_likelihood: ``(B,)`` log p(x) in nats (higher is more likely).
        num_dims: number of dimensions ``D = C * H * W`` of one example.

    Returns:
        ``(B,)`` negative log-likelihood in bits per dimension (lower is more likely).
    """
    if num_dims <= 0:
        raise ValueError(f"num_dims must be positive, got {num_dims}")
    return -log_likelihood / (num_dims * math.log(2.0))


class GenerativeModel(pl.LightningModule):
    """Base class of the zoo: declarations, shape bookkeeping and capability errors.

    Subclasses set ``name``, ``likelihood``, ``capabilities`` and ``description`` and override
    the methods their family supports. Constructor arguments are the saved hyper-parameters, so
    a checkpoint rebuilds the model without extra configuration.
    """

    name: ClassVar[str] = ""
    #: The family of the field's table: flow, autoregressive, vae, diffusion, gan, classical.
    family: ClassVar[str] = ""
    description: ClassVar[str] = ""
    likelihood: ClassVar[Likelihood] = Likelihood.NONE
    capabilities: ClassVar[frozenset[Capability]] = frozenset()
    #: Validation metric (logged by ``validation_step``) for early stopping and checkpointing;
    #: ``None`` for models without one (a GAN): the last epoch's weights are kept.
    monitor: ClassVar[str | None] = "val_bpd"
    train_metric: ClassVar[str] = "train_bpd"  # the name training_step logs the loss under
    #: True when ``log_prob`` is a probability mass over the discrete levels (it sums to one over
    #: every image of the domain); False for a continuous density on dequantized images, whose
    #: sum over the levels' bin centres is a midpoint rule for its mass inside the unit cube.
    discrete: ClassVar[bool] = False
    #: True for models fit in closed form (classical densities): no gradient training.
    closed_form: ClassVar[bool] = False

    def __init__(self, image_shape: tuple[int, int, int], levels: int = 256) -> None:
        super().__init__()
        if len(image_shape) != 3 or min(image_shape) <= 0:
            raise ValueError(
                f"image_shape must be (C, H, W) with positive sizes, got {image_shape}"
            )
        if levels < 2:
            raise ValueError(f"levels must be >= 2, got {levels}")
        c, h, w = (int(s) for s in image_shape)
        self.image_shape: tuple[int, int, int] = (c, h, w)
        self.levels = int(levels)

    def num_parameters(self) -> int:
        """Learned numbers: trainable parameters, plus fitted buffers for closed-form models."""
        count = sum(p.numel() for p in self.parameters())
        if self.closed_form:
            count += sum(b.numel() for b in self.buffers())
        return count

    @property
    def num_dims(self) -> int:
        c, h, w = self.image_shape
        return c * h * w

    # -- capabilities -------------------------------------------------------------------------
    @classmethod
    def supports(cls, capability: Capability) -> bool:
        return capability in cls.capabilities

    def _refuse(self, what: str) -> CapabilityError:
        return CapabilityError(
            f"model '{self.name}' (likelihood: {self.likelihood.value}, capabilities: "
            f"{sorted(c.value for c in self.capabilities) or 'none'}) cannot {what}"
        )

    # -- discrete <-> continuous ---------------------------------------------------------------
    def dequantize(
        self, x: Tensor, generator: torch.Generator | None = None, noise: bool = True
    ) -> Tensor:
        """Discrete ``x in [0, 1]`` -> continuous ``y in (0, 1)`` inside the pixel's bin.

        ``noise=True`` draws a uniform position in the bin (training); ``False`` takes the bin
        centre (scoring), so scores are deterministic.
        """
        x_int = torch.round(x.clamp(0, 1) * (self.levels - 1))
        if noise:
            u = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        else:
            u = torch.full_like(x, 0.5)
        return (x_int + u) / self.levels

    def to_levels(self, y: Tensor) -> Tensor:
        """Continuous ``y`` (any real values) -> the data's discrete grid in ``[0, 1]``."""
        x_int = torch.clamp(torch.floor(y * self.levels), 0, self.levels - 1)
        return x_int / (self.levels - 1)

    def fit_closed_form(self, images: Tensor, generator: torch.Generator | None = None) -> None:
        """Fit without gradient training (``closed_form`` models only)."""
        raise self._refuse("be fit in closed form")

    def resolve_condition(
        self, n: int, condition: Tensor | None, generator: torch.Generator | None
    ) -> Tensor | None:
        """Labels for sampling: unconditional models refuse a condition (conditional ones
        override this, see :class:`genmodels.class_conditional.ClassConditional`)."""
        if condition is not None:
            raise self._refuse("sample conditionally (it is unconditional)")
        return None

    # -- the contract -------------------------------------------------------------------------
    def sample(
        self, n: int, condition: Tensor | None = None, generator: torch.Generator | None = None
    ) -> Tensor:
        """Draw ``n`` images ``(n, C, H, W)`` in ``[0, 1]``."""
        raise self._refuse("sample")

    def log_prob(self, x: Tensor) -> Tensor:
        """Exact per-example log-likelihood ``(B,)`` in nats (EXACT models only)."""
        raise self._refuse("compute an exact log_prob")

    def elbo(self, x: Tensor) -> Tensor:
        """A lower bound on the per-example log-likelihood ``(B,)`` in nats.

        For EXACT models the bound is tight: it equals :meth:`log_prob`.
        """
        if self.likelihood is Likelihood.EXACT:
            return self.log_prob(x)
        raise self._refuse("compute an ELBO")

    def log_likelihood(self, x: Tensor) -> Tensor:
        """The best available log-likelihood: ``log_prob`` if EXACT, else ``elbo``."""
        if self.likelihood is Likelihood.EXACT:
            return self.log_prob(x)
        return self.elbo(x)

    def smooth_log_likelihood(self, y: Tensor) -> Tensor:
        """A smooth extension of :meth:`log_likelihood` to continuous pixel values ``(B,)``.

        ``y`` is ``(B, C, H, W)`` with real values in ``[0, 1]`` (not snapped to the levels); the
        result is differentiable in ``y`` and equals :meth:`log_likelihood` at every image of the
        discrete grid. Models declaring DIFFERENTIABLE provide it (gradient-based inference such
        as colorization uses it as a prior).
        """
        raise self._refuse("give a log-likelihood that is differentiable in the pixels")

    def pixel_nll(self, x: Tensor) -> Tensor:
        """The negative log-likelihood's per-pixel terms ``(B, H, W)`` in nats, summed over the
        channels: where in an image the model spends its code (PIXELWISE models only). For an
        autoregressive model they sum to ``-log_prob(x)``; for a VAE they are the reconstruction
        term at the posterior mean (the KL term belongs to no pixel)."""
        raise self._refuse("split its likelihood over the pixels")

    def local_features(self, x: Tensor) -> Tensor:
        """``(B, K, H, W)``: ``K`` numbers the model's network computes about each place of
        ``x`` (LOCAL_FEATURES models only), on the image's grid, for comparing the same place
        across images (:mod:`tasks.anomaly.features`)."""
        raise self._refuse("give features of each place of an image")

    def grid_to_bin_centres(self, y: Tensor) -> Tensor:
        """Map ``[0, 1]`` (grid values ``k / (L - 1)``) affinely onto the bin centres
        ``(k + 1/2) / L`` where dequantized models evaluate their density."""
        return (y * (self.levels - 1) + 0.5) / self.levels

    def bits_per_dim(self, x: Tensor) -> Tensor:
        """Per-example negative log-likelihood ``(B,)`` in bits per dimension."""
        return bits_per_dim(self.log_likelihood(x), self.num_dims)

    # -- Lightning: maximum likelihood, shared by the likelihood families ------------------------
    def training_log_likelihood(self, batch: tuple[Tensor, ...]) -> Tensor:
        """The per-example objective to maximize on a training batch (override to dequantize,
        use labels, or take a bound); by default the model's log-likelihood of the images."""
        return self.log_likelihood(batch[0])

    def training_loss(self, batch: tuple[Tensor, ...]) -> Tensor:
        """The scalar minimized on a training batch, without Lightning (a bare PyTorch loop
        over the same network calls this; ``benchmarks/speed`` does)."""
        return bits_per_dim(self.training_log_likelihood(batch), self.num_dims).mean()

    def training_step(self, batch: tuple[Tensor, ...], batch_idx: int) -> Tensor:
        loss = self.training_loss(batch)
        self.log(
            self.train_metric,
            loss,
            on_step=False,
            on_epoch=True,
            prog_bar=True,
            batch_size=len(batch[0]),
        )
        return loss

    def validation_step(self, batch: tuple[Tensor, ...], batch_idx: int) -> Tensor | None:
        n = len(batch[0])
        bpd = self.bits_per_dim(batch[0]).mean()
        # averaged over every process of a data-parallel training, so all agree on the best epoch
        self.log(
            "val_bpd",
            bpd,
            on_step=False,
            on_epoch=True,
            prog_bar=True,
            batch_size=n,
            sync_dist=True,
        )
        return bpd

    def configure_optimizers(self) -> Any:
        """Adam with the model's ``lr`` (and ``weight_decay`` where it has one)."""
        lr = float(self.hparams.get("lr", 1e-3))
        weight_decay = float(self.hparams.get("weight_decay", 0.0))
        return torch.optim.Adam(self.parameters(), lr=lr, weight_decay=weight_decay)

    def check_input(self, x: Tensor) -> None:
        """Raise a clear error when ``x`` does not match the model's image shape."""
        if x.ndim != 4 or tuple(x.shape[1:]) != self.image_shape:
            raise ValueError(
                f"model '{self.name}' expects images of shape "
                f"(B, {', '.join(map(str, self.image_shape))})"
                f", got {tuple(x.shape)}"
            )

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "likelihood": self.likelihood.value,
            "capabilities": sorted(c.value for c in self.capabilities),
            "image_shape": list(self.image_shape),
            "levels": self.levels,
        }

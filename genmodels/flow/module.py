"""RealNVP as a zoo model: training with dequantization, exact log-likelihood, sampling."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genmodels.class_conditional import ClassConditional
from genmodels.contract import Capability, GenerativeModel, Likelihood
from genmodels.flow.layers import CouplingNet
from genmodels.flow.network import MultiScaleFlow
from genmodels.registry import register_model


@register_model
class RealNVP(GenerativeModel):
    """Multi-scale affine-coupling flow; exact likelihood and fast sampling.

    Training maximizes the uniformly dequantized likelihood ``log p((x_int + u) / L) - D log L``
    (a lower bound on the discrete log-probability, ``L`` = levels). At evaluation the bin centre
    ``u = 1/2`` is used, so scores are deterministic.
    """

    name = "realnvp"
    family = "flow"
    description = "multi-scale RealNVP/Glow-style flow (affine couplings, actnorm, logit)"
    likelihood = Likelihood.EXACT
    capabilities = frozenset(
        {Capability.SAMPLE, Capability.DIFFERENTIABLE, Capability.LOCAL_FEATURES}
    )

    def __init__(
        self,
        image_shape: tuple[int, int, int],
        levels: int = 256,
        num_scales: int = 2,
        hidden_channels: int = 64,
        num_blocks: int = 2,
        couplings_per_scale: int = 3,
        alpha: float = 0.05,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(image_shape, levels)
        self.save_hyperparameters()
        self.net = MultiScaleFlow(
            self.image_shape, num_scales, hidden_channels, num_blocks, couplings_per_scale, alpha
        )

    def _discrete_log_prob(self, y: Tensor) -> Tensor:
        return self.net.log_density(y) - self.num_dims * math.log(self.levels)

    # -- the contract -----------------------------------------------------------------------
    def log_prob(self, x: Tensor) -> Tensor:
        self.check_input(x)
        return self._discrete_log_prob(self.dequantize(x, noise=False))

    def smooth_log_likelihood(self, y: Tensor) -> Tensor:
        self.check_input(y)
        return self._discrete_log_prob(self.grid_to_bin_centres(y))

    @torch.no_grad()
    def sample(
        self,
        n: int,
        condition: Tensor | None = None,
        generator: torch.Generator | None = None,
        temperature: float = 1.0,
    ) -> Tensor:
        self.resolve_condition(n, condition, generator)  # refuses a condition
        z = torch.randn(n, self.num_dims, generator=generator, device=self.device) * temperature
        y = self.net.inverse(z.to(self.dtype))
        return self.to_levels(y)

    def training_log_likelihood(self, batch: tuple[Tensor, ...]) -> Tensor:
        return self._discrete_log_prob(self.dequantize(batch[0]))  # uniform dequantization

    @torch.no_grad()
    def local_features(self, x: Tensor) -> Tensor:
        """The hidden maps of the coupling conditioners at the flow's coarser scales (every
        scale but the first; all of them for a one-scale flow), each upsampled to the image
        grid by repetition: ``(B, K, H, W)``. A conditioner sees a neighbourhood of a few pixels
        at its scale, so these say what the flow computes about each region. The flow runs on
        the bin centres, as for scoring."""
        self.check_input(x)
        caught: list[Tensor] = []
        hooks = [
            m.net.register_forward_hook(lambda _m, _i, out: caught.append(out))
            for m in self.net.modules()
            if isinstance(m, CouplingNet)
        ]
        try:
            self.net(self.dequantize(x, noise=False))
        finally:
            for hook in hooks:
                hook.remove()
        size = tuple(x.shape[-2:])
        coarse = [f for f in caught if tuple(f.shape[-2:]) != size] or caught
        return torch.cat([F.interpolate(f, size=size, mode="nearest") for f in coarse], 1)


@register_model
class ConditionalRealNVP(ClassConditional, RealNVP):
    """Class-conditional flow: one bijection, a Gaussian base with a learned mean per class.

    ``p(x | y) = N(f(x); mu_y, I) |det df/dx|``, so ``log_prob(x)`` without a label is the exact
    marginal ``log sum_y pi_y p(x | y)`` (one flow pass, one base density per class).
    """

    name = "realnvp-cond"
    description = "class-conditional RealNVP (class-dependent base means); exact marginal"
    capabilities = frozenset(
        {
            Capability.SAMPLE,
            Capability.CONDITIONAL,
            Capability.DIFFERENTIABLE,
            Capability.LOCAL_FEATURES,
        }
    )

    def __init__(
        self,
        image_shape: tuple[int, int, int],
        levels: int = 256,
        num_scales: int = 2,
        hidden_channels: int = 64,
        num_blocks: int = 2,
        couplings_per_scale: int = 3,
        alpha: float = 0.05,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        num_classes: int = 10,
    ) -> None:
        RealNVP.__init__(
            self,
            image_shape,
            levels,
            num_scales,
            hidden_channels,
            num_blocks,
            couplings_per_scale,
            alpha,
            lr,
            weight_decay,
        )
        self.hparams["num_classes"] = num_classes  # RealNVP's own signature has no num_classes
        self._init_classes(num_classes)
        self.class_means = nn.Embedding(num_classes, self.num_dims)
        nn.init.zeros_(self.class_means.weight)

    def _log_prob_given(self, y_img: Tensor) -> Tensor:
        """``(K, B)``: discrete log-probability of the dequantized images under every class."""
        z, logdet = self.net(y_img)
        diff = z[None] - self.class_means.weight[:, None, :]
        log_base = -0.5 * (diff**2).sum(-1) - 0.5 * self.num_dims * math.log(2 * math.pi)
        return log_base + logdet[None] - self.num_dims * math.log(self.levels)

    def log_prob(self, x: Tensor) -> Tensor:
        self.check_input(x)
        return self._marginal_at(self.dequantize(x, noise=False))

    def smooth_log_likelihood(self, y: Tensor) -> Tensor:
        self.check_input(y)
        return self._marginal_at(self.grid_to_bin_centres(y))

    def _marginal_at(self, y_img: Tensor) -> Tensor:
        per_class = self._log_prob_given(y_img)
        return torch.logsumexp(per_class + self.log_class_prior[:, None], dim=0)

    def conditional_log_prob(self, x: Tensor, labels: Tensor) -> Tensor:
        """``log p(x | y)`` per example ``(B,)``."""
        self.check_input(x)
        per_class = self._log_prob_given(self.dequantize(x, noise=False))
        return per_class.gather(0, labels.long()[None]).squeeze(0)

    def conditional_log_likelihood(self, x: Tensor, labels: Tensor) -> Tensor:
        return self.conditional_log_prob(x, labels)

    def training_log_likelihood(self, batch: tuple[Tensor, ...]) -> Tensor:
        per_class = self._log_prob_given(self.dequantize(batch[0]))
        return per_class.gather(0, self.labels_of(batch).long()[None]).squeeze(0)

    @torch.no_grad()
    def sample(
        self,
        n: int,
        condition: Tensor | None = None,
        generator: torch.Generator | None = None,
        temperature: float = 1.0,
    ) -> Tensor:
        labels = self.resolve_condition(n, condition, generator)
        z = torch.randn(n, self.num_dims, generator=generator).to(self.device) * temperature
        y = self.net.inverse((z + self.class_means(labels)).to(self.dtype))
        return self.to_levels(y)

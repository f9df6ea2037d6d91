"""Denoising diffusion (DDPM) on MONAI: epsilon-prediction U-Net, DDPM/DDIM schedulers.

Likelihood: the variational bound of Ho et al. (2020), per example, in nats of the discrete image:

    -log p(x_0) <= KL(q(x_T | x_0) || N(0, I)) + sum_{t=2..T} L_{t-1} - log p(x_0 | x_1),
    L_{t-1} = beta_t^2 / (2 sigma_t^2 alpha_t (1 - abar_t)) * |eps - eps_theta(x_t, t)|^2,

with sigma_t^2 = beta~_t (MONAI's ``fixed_small``). The sum over t is estimated from
``bound_timesteps`` stratified timesteps (one U-Net pass each); at evaluation the timesteps and the
noise are a fixed draw shared by all examples, so scores repeat and do not depend on the batch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from monai.networks.schedulers import DDIMScheduler, DDPMScheduler
from torch import Tensor

from genmodels.class_conditional import ClassConditional
from genmodels.contract import Capability, GenerativeModel, Likelihood
from genmodels.diffusion.network import PaddedUNet
from genmodels.likelihoods import discretized_gaussian_log_prob
from genmodels.registry import register_model

_EVAL_SEED = 1234


def _schedule(num_train_timesteps: int) -> dict[str, Any]:
    """Linear betas of Ho et al. (1e-4 .. 0.02 at T = 1000), scaled by 1000 / T for shorter chains.

    Keeps the total noise, and so ``abar_T`` close to 0, whatever ``T`` is.
    """
    scale = 1000.0 / num_train_timesteps
    return {"beta_start": 1e-4 * scale, "beta_end": min(0.02 * scale, 0.999)}


@register_model
class DDPM(GenerativeModel):
    """DDPM with MONAI's ``DiffusionModelUNet``; DDIM sampling with few steps."""

    name = "ddpm"
    family = "diffusion"
    description = "DDPM on MONAI DiffusionModelUNet; variational bound; DDIM sampling"
    likelihood = Likelihood.BOUND
    capabilities = frozenset({Capability.SAMPLE})
    train_metric = "train_loss"

    def __init__(
        self,
        image_shape: tuple[int, int, int],
        levels: int = 256,
        channels: Sequence[int] = (32, 64, 64),
        attention_levels: Sequence[bool] = (False, False, True),
        num_res_blocks: int = 1,
        num_train_timesteps: int = 1000,
        sample_steps: int = 50,
        bound_timesteps: int = 16,
        lr: float = 2e-4,
        num_classes: int | None = None,
    ) -> None:
        super().__init__(image_shape, levels)
        self.save_hyperparameters()
        groups = math.gcd(8, *channels)
        self.net = PaddedUNet(
            self.image_shape,
            channels,
            attention_levels,
            num_res_blocks,
            groups,
            max(channels[-1] // 2, 1),
            num_classes,
        )
        self.scheduler = DDPMScheduler(
            num_train_timesteps=num_train_timesteps, **_schedule(num_train_timesteps)
        )
        self.num_train_timesteps, self.sample_steps = num_train_timesteps, sample_steps
        self.bound_timesteps = min(bound_timesteps, num_train_timesteps - 1)
        betas = self.scheduler.betas.double()
        alphas = 1.0 - betas
        abar = torch.cumprod(alphas, 0)
        abar_prev = torch.cat([torch.ones(1, dtype=torch.float64), abar[:-1]])
        self.betas: Tensor
        self.alphas_cumprod: Tensor
        self.kl_weights: Tensor
        self.register_buffer("betas", betas.float(), persistent=False)
        self.register_buffer("alphas_cumprod", abar.float(), persistent=False)
        # sigma_t^2 = beta~_t = beta_t (1 - abar_{t-1}) / (1 - abar_t);
        # the weight multiplies |eps - eps_theta|^2 in L_{t-1}
        posterior_var = betas * (1 - abar_prev) / (1 - abar)
        weights = betas**2 / (2 * posterior_var.clamp_min(1e-20) * alphas * (1 - abar))
        self.register_buffer("kl_weights", weights.float(), persistent=False)
        # The bound's fixed evaluation draws, made once: constants to tracers and exporters.
        self.bound_steps: Tensor
        self.bound_eps: Tensor
        self.bound_eps0: Tensor
        steps, eps, eps0 = self._fixed_bound_draws()
        self.register_buffer("bound_steps", steps, persistent=False)
        self.register_buffer("bound_eps", eps, persistent=False)
        self.register_buffer("bound_eps0", eps0, persistent=False)

    # -- scaling --------------------------------------------------------------------------------
    def _to_model(self, x: Tensor) -> Tensor:
        x = torch.round(x.clamp(0, 1) * (self.levels - 1)) / (self.levels - 1)
        return 2 * x - 1

    # -- the bound ------------------------------------------------------------------------------
    def _stratified_steps(self, g: torch.Generator | None) -> Tensor:
        k, t_max = self.bound_timesteps, self.num_train_timesteps
        edges = torch.linspace(1, t_max, k + 1)
        u = torch.rand(k, generator=g)
        return (edges[:-1] + u * (edges[1:] - edges[:-1])).long().clamp(1, t_max - 1)

    def _fixed_bound_draws(self) -> tuple[Tensor, Tensor, Tensor]:
        """The evaluation draws: timesteps ``(K,)``, noise ``(K, 1, C, H, W)`` and decoder noise
        ``(1, C, H, W)``, shared by every image so scores repeat exactly."""
        g = torch.Generator().manual_seed(_EVAL_SEED)
        steps = self._stratified_steps(g)
        eps = torch.randn((self.bound_timesteps, 1, *self.image_shape), generator=g)
        return steps, eps, torch.randn((1, *self.image_shape), generator=g)

    def _bound_draws(self, n: int, like: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Timesteps ``(K,)`` in [1, T-1] (stratified), noise ``(K, B, C, H, W)``, decoder noise:
        fresh while training, the fixed evaluation draws otherwise."""
        k, shape = self.bound_timesteps, self.image_shape
        if self.training:
            steps = self._stratified_steps(None)
            eps, eps0 = torch.randn((k, n, *shape)), torch.randn((n, *shape))
        else:
            steps, eps, eps0 = self.bound_steps.cpu(), self.bound_eps, self.bound_eps0
        return steps, eps.to(like).expand(k, n, *shape), eps0.to(like).expand(n, *shape)

    def elbo(self, x: Tensor) -> Tensor:
        return self.conditional_elbo(x)

    def conditional_elbo(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """The bound on ``log p(x | y)`` (``y`` ignored by unconditional models), ``(B,)``."""
        self.check_input(x)
        x0 = self._to_model(x)
        n = x0.shape[0]
        steps, eps, eps0 = self._bound_draws(n, x0)
        abar = self.alphas_cumprod
        # sum_{t=2..T} L_{t-1}: K stratified terms, each weighted by its stratum's width
        diffusion = x0.new_zeros(n)
        width = (self.num_train_timesteps - 1) / len(steps)
        for t, e in zip(steps.tolist(), eps, strict=True):
            xt = abar[t].sqrt() * x0 + (1 - abar[t]).sqrt() * e
            pred = self.net(xt, torch.full((n,), t, device=x0.device, dtype=torch.long), y)
            diffusion = diffusion + width * self.kl_weights[t] * ((e - pred) ** 2).flatten(1).sum(1)
        # decoder term: -log p(x_0 | x_1), discretized Gaussian with variance beta_1
        x1 = abar[0].sqrt() * x0 + (1 - abar[0]).sqrt() * eps0
        pred0 = self.net(x1, torch.zeros(n, device=x0.device, dtype=torch.long), y)
        mean = (x1 - self.betas[0] / (1 - abar[0]).sqrt() * pred0) / (1 - self.betas[0]).sqrt()
        log_scale = 0.5 * torch.log(self.betas[0]) - math.log(2.0)  # sigma in [0, 1] units
        decoder = discretized_gaussian_log_prob(
            (x0 + 1) / 2, (mean + 1) / 2, log_scale.expand_as(mean), self.levels
        )
        # prior term: KL(N(sqrt(abar_T) x0, 1 - abar_T) || N(0, 1)) per dimension
        a_t = abar[-1]
        prior = 0.5 * (a_t * x0**2 + (1 - a_t) - 1 - torch.log(1 - a_t)).flatten(1).sum(1)
        return decoder.flatten(1).sum(1) - diffusion - prior

    # -- sampling -------------------------------------------------------------------------------
    @torch.no_grad()
    def sample(
        self,
        n: int,
        condition: Tensor | None = None,
        generator: torch.Generator | None = None,
        steps: int | None = None,
    ) -> Tensor:
        """DDIM sampling (deterministic given the initial noise) with ``steps`` denoising steps."""
        y = self.resolve_condition(n, condition, generator)
        ddim = DDIMScheduler(
            num_train_timesteps=self.num_train_timesteps, **_schedule(self.num_train_timesteps)
        )
        ddim.set_timesteps(min(steps or self.sample_steps, self.num_train_timesteps))
        x = torch.randn((n, *self.image_shape), generator=generator).to(self.device)
        for t in ddim.timesteps:
            pred = self.net(x, torch.full((n,), int(t), device=self.device, dtype=torch.long), y)
            x, _ = ddim.step(pred, int(t), x)
        return self.to_levels(((x.clamp(-1, 1) + 1) / 2).clamp(0, 1 - 1e-6))

    # -- Lightning ------------------------------------------------------------------------------
    def _labels(self, batch: tuple[Tensor, ...]) -> Tensor | None:
        return None

    def training_loss(self, batch: tuple[Tensor, ...]) -> Tensor:
        """Noise-prediction error at a random timestep per image."""
        x0 = self._to_model(batch[0])
        noise = torch.randn_like(x0)
        t = torch.randint(0, self.num_train_timesteps, (x0.shape[0],), device=x0.device)
        xt = self.scheduler.add_noise(original_samples=x0, noise=noise, timesteps=t)
        return F.mse_loss(self.net(xt, t, self._labels(batch)), noise)


@register_model
class ConditionalDDPM(ClassConditional, DDPM):
    """Class-conditional DDPM (MONAI class embeddings); unlabelled scores use the marginal bound
    ``log sum_y pi_y exp(bound(x | y))``, still a lower bound on ``log p(x)``."""

    name = "ddpm-cond"
    description = "class-conditional DDPM (MONAI class embeddings); marginal bound over classes"
    capabilities = frozenset({Capability.SAMPLE, Capability.CONDITIONAL})

    def __init__(
        self,
        image_shape: tuple[int, int, int],
        levels: int = 256,
        channels: Sequence[int] = (32, 64, 64),
        attention_levels: Sequence[bool] = (False, False, True),
        num_res_blocks: int = 1,
        num_train_timesteps: int = 1000,
        sample_steps: int = 50,
        bound_timesteps: int = 16,
        lr: float = 2e-4,
        num_classes: int = 10,
    ) -> None:
        DDPM.__init__(
            self,
            image_shape,
            levels,
            channels,
            attention_levels,
            num_res_blocks,
            num_train_timesteps,
            sample_steps,
            bound_timesteps,
            lr,
            max(num_classes, 1),
        )
        self._init_classes(num_classes)

    def elbo(self, x: Tensor) -> Tensor:
        return self.marginal(lambda y: self.conditional_elbo(x, y), x)

    def conditional_log_likelihood(self, x: Tensor, labels: Tensor) -> Tensor:
        return self.conditional_elbo(x, labels)

    def _labels(self, batch: tuple[Tensor, ...]) -> Tensor | None:
        return self.labels_of(batch)

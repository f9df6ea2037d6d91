"""Posterior inference over chroma: MAP by gradient ascent, samples by (Metropolis-adjusted)
Langevin dynamics.

The posterior over the chroma ``c`` of a gray image ``Y`` is ``p(c | Y) ∝ p(compose(Y, c))``: the
likelihood ``p(Y | rgb)`` is a point mass on ``luma(rgb) = Y``, which the parameterization satisfies
exactly, so only the prior shapes the colours. Chroma that leaves the RGB cube is pulled back by
:func:`~tasks.colorize.color.compose`; a quadratic penalty on the cut-off length keeps the
density proper there.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Self

import torch
from pydantic import Field, model_validator
from torch import Tensor

from genmodels.settings import Section
from tasks.colorize.color import compose, overshoot, to_chroma, uniform_chroma
from tasks.colorize.priors import Prior

LogDensity = Callable[[Tensor], Tensor]


#: MALA's optimal acceptance rate, the target of the step-size adaptation
TARGET_ACCEPT = 0.574


class InferenceSpec(Section):
    """Settings of MAP search and Langevin sampling (the colorize task's section extends it)."""

    starts: int = Field(4, ge=1)  # MAP restarts per image (the best by posterior is kept)
    map_steps: int = Field(150, ge=0)
    map_lr: float = Field(0.03, gt=0)
    samples: int = Field(4, ge=1)  # posterior samples (independent chains) per image
    langevin_steps: int = Field(200, ge=0)
    adapt_steps: int = Field(100, ge=0)  # of langevin_steps, tuning each chain's step size
    step_size: float = Field(1e-4, gt=0)  # initial Langevin step (chroma units squared)
    penalty: float = Field(1e4, ge=0)  # weight of the squared chroma outside the RGB cube
    batch_size: int = Field(64, ge=1)  # images per inference batch
    # where the chains start: "map" = all at the MAP estimate; "dispersed" = each at its own
    # uniform random colouring, climbed by map_steps of Adam (the MAP is the best climb)
    chain_start: Literal["map", "dispersed"] = "map"
    # the arm's estimate: the MAP, or the mean of the samples (the Bayes estimate under squared
    # error, which is what PSNR measures)
    estimate: Literal["map", "posterior-mean"] = "map"
    # the first climb of every image starts from the gray input itself (zero chroma) instead of
    # a random colouring; a flow prior's mode is often near gray, which random starts miss
    gray_start: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.estimate == "posterior-mean" and self.samples < 2:
            raise ValueError("estimate 'posterior-mean' needs samples >= 2")
        if self.adapt_steps > self.langevin_steps:
            raise ValueError("adapt_steps must lie in [0, langevin_steps]")
        return self


def chroma_log_posterior(prior: Prior, gray: Tensor, penalty: float) -> LogDensity:
    """``log p(c | gray)`` up to a constant, ``(B,)``, as a function of chroma ``(B, 2, H, W)``."""

    def log_density(chroma: Tensor) -> Tensor:
        return prior(compose(gray, chroma)) - penalty * overshoot(gray, chroma)

    return log_density


def _value_and_grad(log_density: LogDensity, x: Tensor) -> tuple[Tensor, Tensor]:
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        value = log_density(x)
        (grad,) = torch.autograd.grad(value.sum(), x)
    return value.detach(), grad.detach()


@dataclass(frozen=True)
class LangevinResult:
    samples: Tensor  # final states, shape of the initial states
    accept_rate: Tensor  # (B,) after adaptation (1.0 for unadjusted dynamics)
    step_size: Tensor  # (B,) the tuned step sizes


def langevin(
    log_density: LogDensity,
    init: Tensor,
    steps: int,
    step_size: float,
    generator: torch.Generator | None = None,
    adjust: bool = True,
    adapt_steps: int = 0,
    target_accept: float = 0.574,
) -> LangevinResult:
    """Run one Langevin chain per row of ``init`` ``(B, ...)`` for ``steps`` steps.

    ``x' = x + eps * grad log p(x) + sqrt(2 eps) * noise``; with ``adjust`` each proposal is
    accepted with the Metropolis-Hastings probability (MALA), so the chain targets ``p`` exactly.
    During the first ``adapt_steps`` each chain's ``eps`` follows a Robbins-Monro rule towards
    ``target_accept`` (MALA only); it is then frozen. ``log_density`` maps ``(B, ...)`` to ``(B,)``.
    """
    if steps < 0 or step_size <= 0 or not 0 <= adapt_steps <= steps:
        raise ValueError("need steps >= 0, step_size > 0 and 0 <= adapt_steps <= steps")
    x = init.detach().clone()
    b = x.shape[0]
    shape = (b,) + (1,) * (x.ndim - 1)
    log_eps = torch.full((b,), math.log(step_size), dtype=x.dtype, device=x.device)
    value, grad = _value_and_grad(log_density, x)
    accepted = torch.zeros(b, dtype=x.dtype, device=x.device)
    for t in range(steps):
        eps = log_eps.exp().view(shape)
        noise = torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x.device)
        proposal = x + eps * grad + torch.sqrt(2 * eps) * noise
        if not adjust:
            x = proposal
            value, grad = _value_and_grad(log_density, x)
            continue
        p_value, p_grad = _value_and_grad(log_density, proposal)
        forward = ((proposal - x - eps * grad) ** 2).flatten(1).sum(1)
        backward = ((x - proposal - eps * p_grad) ** 2).flatten(1).sum(1)
        log_alpha = p_value - value + (forward - backward) / (4 * eps.flatten())
        log_alpha = torch.nan_to_num(log_alpha, nan=-math.inf)
        u = torch.rand(b, generator=generator, dtype=x.dtype).to(x.device)
        accept = torch.log(u) < log_alpha
        keep = accept.view(shape)
        x = torch.where(keep, proposal, x)
        value = torch.where(accept, p_value, value)
        grad = torch.where(keep, p_grad, grad)
        if t < adapt_steps:
            alpha = log_alpha.clamp(max=0).exp()
            log_eps = log_eps + (alpha - target_accept) * 2.0 / (1 + t) ** 0.6
        else:
            accepted += accept.to(x.dtype)
    sampled = steps - adapt_steps
    rate = accepted / sampled if adjust and sampled else torch.ones_like(accepted)
    return LangevinResult(x, rate, log_eps.exp())


def _batches(n: int, size: int) -> list[slice]:
    return [slice(i, min(i + size, n)) for i in range(0, n, size)]


@dataclass(frozen=True)
class MapResult:
    rgb: Tensor  # (B, 3, H, W)
    log_posterior: Tensor  # (B,)


@dataclass(frozen=True)
class Climbs:
    """Every start's end point after gradient ascent."""

    rgb: Tensor  # (S, B, 3, H, W)
    log_posterior: Tensor  # (S, B)

    def best(self) -> MapResult:
        best = self.log_posterior.argmax(0)
        index = torch.arange(self.rgb.shape[1])
        return MapResult(self.rgb[best, index], self.log_posterior[best, index])


def _initial_chroma(
    gray: Tensor, starts: int, config: InferenceSpec, generator: torch.Generator | None
) -> Tensor:
    """``(S, B, 2, H, W)``: uniform random colourings, the first zero chroma with ``gray_start``."""
    init = uniform_chroma(gray, starts, generator)
    if config.gray_start:
        init[0] = 0.0
    return init


def _keep_better(best: Tensor, best_value: Tensor, point: Tensor, value: Tensor) -> Tensor:
    """Copy the rows of ``point`` whose ``value`` beats ``best_value`` into ``best`` (in place);
    return the updated best values. NaN never counts as better."""
    better = value > best_value
    best[better] = point[better]
    return torch.where(better, value, best_value)


def climb(
    prior: Prior,
    gray: Tensor,
    starts: int,
    config: InferenceSpec,
    generator: torch.Generator | None = None,
) -> Climbs:
    """Gradient ascent (Adam, ``config.map_steps`` steps) on the chroma of every image from
    ``starts`` starts each (uniform random colourings; the first is the gray input with
    ``config.gray_start``). Each climb returns the best point it visited, so a step size too
    large for the prior can never leave a climb worse than its start."""
    rgbs, values = [], []
    for part in _batches(len(gray), config.batch_size):
        g = gray[part]
        init = _initial_chroma(g, starts, config, generator)  # (S, b, 2, H, W)
        s, b = init.shape[:2]
        g_rep = g.repeat(s, 1, 1, 1)
        log_density = chroma_log_posterior(prior, g_rep, config.penalty)
        chroma = init.reshape(s * b, *init.shape[2:]).clone().requires_grad_(True)
        best = chroma.detach().clone()
        best_value = torch.full((s * b,), -math.inf, dtype=chroma.dtype)
        optimizer = torch.optim.Adam([chroma], lr=config.map_lr)
        with torch.enable_grad():
            for _ in range(config.map_steps):
                optimizer.zero_grad()
                value = log_density(chroma)
                best_value = _keep_better(best, best_value, chroma.detach(), value.detach())
                (-value.sum()).backward()
                optimizer.step()
        with torch.no_grad():
            best_value = _keep_better(best, best_value, chroma, log_density(chroma))
        values.append(best_value.view(s, b))
        rgbs.append(compose(g_rep, best).view(s, b, 3, *g.shape[2:]))
    return Climbs(torch.cat(rgbs, 1), torch.cat(values, 1))


def map_colorize(
    prior: Prior, gray: Tensor, config: InferenceSpec, generator: torch.Generator | None = None
) -> MapResult:
    """Gradient ascent (Adam) from ``config.starts`` starts per image (see :func:`climb`); each
    image keeps its best climb."""
    return climb(prior, gray, config.starts, config, generator).best()


@dataclass(frozen=True)
class PosteriorSamples:
    rgb: Tensor  # (K, B, 3, H, W)
    accept_rate: Tensor  # (K, B)

    @property
    def uncertainty(self) -> Tensor:
        """Per-pixel std across samples, averaged over RGB ``(B, 1, H, W)``."""
        return self.rgb.std(0, unbiased=False).mean(1, keepdim=True)


def sample_colorize(
    prior: Prior,
    gray: Tensor,
    config: InferenceSpec,
    generator: torch.Generator | None = None,
    start: Tensor | None = None,
) -> PosteriorSamples:
    """``config.samples`` independent MALA chains per image.

    Chains start at ``start``: colour images ``(B, 3, H, W)`` shared by every chain (e.g. the MAP
    estimate: no burn-in is spent finding the mode) or one per chain ``(samples, B, 3, H, W)``
    (e.g. dispersed climbs); without it, at uniform random colourings.
    """
    if start is not None and start.ndim == 5 and start.shape[0] != config.samples:
        raise ValueError(f"{start.shape[0]} chain starts for {config.samples} samples")
    rgbs, rates = [], []
    for part in _batches(len(gray), config.batch_size):
        g = gray[part]
        if start is None:
            init = uniform_chroma(g, config.samples, generator)
        elif start.ndim == 5:
            init = torch.stack([to_chroma(s) for s in start[:, part]])
        else:
            init = to_chroma(start[part]).unsqueeze(0).expand(config.samples, -1, -1, -1, -1)
        k, b = init.shape[:2]
        g_rep = g.repeat(k, 1, 1, 1)
        result = langevin(
            chroma_log_posterior(prior, g_rep, config.penalty),
            init.reshape(k * b, *init.shape[2:]),
            config.langevin_steps,
            config.step_size,
            generator,
            adjust=True,
            adapt_steps=config.adapt_steps,
            target_accept=TARGET_ACCEPT,
        )
        rgbs.append(compose(g_rep, result.samples).view(k, b, 3, *g.shape[2:]))
        rates.append(result.accept_rate.view(k, b))
    return PosteriorSamples(torch.cat(rgbs, 1), torch.cat(rates, 1))


def sample_uniform(
    gray: Tensor, k: int, generator: torch.Generator | None = None
) -> PosteriorSamples:
    """Exact samples of the uniform-prior posterior: uniform valid chroma at every pixel."""
    chroma = uniform_chroma(gray, k, generator)
    rgb = torch.stack([compose(gray, c) for c in chroma])
    return PosteriorSamples(rgb, torch.ones(k, len(gray)))

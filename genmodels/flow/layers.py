"""Invertible building blocks of a RealNVP/Glow-style flow.

Every block maps ``x -> (y, logdet)`` in :meth:`forward`, with ``logdet`` the per-example
``log |det dy/dx|`` of shape ``(B,)``, and inverts exactly in :meth:`inverse`. Tensors are images
``(B, C, H, W)``.

A conditional flow passes a *context*: feature maps ``(B, K, H', W')`` at one or more
resolutions (a tuple). Couplings built with ``context_channels = K > 0`` feed the level whose
resolution matches their input to their conditioner; every other block ignores it.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

import torch
import torch.nn.functional as F
from torch import Tensor, nn

#: Conditioning feature maps, one tensor per resolution.
Context = tuple[Tensor, ...]


def context_at(context: Context | None, x: Tensor, channels: int) -> Tensor:
    """The context level with ``x``'s spatial size and ``channels`` channels."""
    for level in context or ():
        if level.shape[2:] == x.shape[2:]:
            if level.shape[1] != channels or level.shape[0] != x.shape[0]:
                raise ValueError(
                    f"context at {tuple(x.shape[2:])} must be ({x.shape[0]}, {channels}, ...), "
                    f"got {tuple(level.shape)}"
                )
            return level
    sizes = [tuple(level.shape[2:]) for level in context or ()]
    raise ValueError(f"a conditional coupling at {tuple(x.shape[2:])} got context sizes {sizes}")


class FlowStep(nn.Module, ABC):
    """Interface of an invertible block."""

    @abstractmethod
    def forward(self, x: Tensor, context: Context | None = None) -> tuple[Tensor, Tensor]:
        """``x -> (y, logdet)`` with ``logdet`` of shape ``(B,)``."""

    @abstractmethod
    def inverse(self, y: Tensor, context: Context | None = None) -> Tensor:
        """Exact inverse of :meth:`forward`."""


class LogitTransform(FlowStep):
    """Map ``y in (0, 1)`` to the real line: ``logit(alpha + (1 - 2 alpha) y)``.

    The squeeze by ``alpha`` keeps dequantized pixels away from 0 and 1, where the logit diverges.
    """

    def __init__(self, alpha: float = 0.05) -> None:
        super().__init__()
        if not 0.0 <= alpha < 0.5:
            raise ValueError(f"alpha must be in [0, 0.5), got {alpha}")
        self.alpha = alpha

    def forward(self, x: Tensor, context: Context | None = None) -> tuple[Tensor, Tensor]:
        p = self.alpha + (1.0 - 2.0 * self.alpha) * x
        y = torch.log(p) - torch.log1p(-p)
        logdet = math.log(1.0 - 2.0 * self.alpha) - torch.log(p) - torch.log1p(-p)
        return y, logdet.flatten(1).sum(1)

    def inverse(self, y: Tensor, context: Context | None = None) -> Tensor:
        return (torch.sigmoid(y) - self.alpha) / (1.0 - 2.0 * self.alpha)


class ActNorm(FlowStep):
    """Per-channel affine normalization with data-dependent initialization (Glow).

    On the first forward pass, bias and scale are set so that the batch has zero mean and unit
    variance per channel; afterwards they are ordinary parameters. The ``initialized`` buffer is
    saved in checkpoints, so a loaded model is never re-initialized.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.log_scale = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.initialized: Tensor
        self.register_buffer("initialized", torch.tensor(False))

    @torch.no_grad()
    def _initialize(self, x: Tensor) -> None:
        mean = x.mean(dim=(0, 2, 3), keepdim=True)
        std = (
            x.std(dim=(0, 2, 3), keepdim=True) if x.shape[0] * x.shape[2] * x.shape[3] > 1 else 1.0
        )
        self.bias.data.copy_(-mean)
        self.log_scale.data.copy_(-torch.log(torch.as_tensor(std) + 1e-6).expand_as(self.log_scale))
        self.initialized.fill_(True)

    def forward(self, x: Tensor, context: Context | None = None) -> tuple[Tensor, Tensor]:
        if not bool(self.initialized):
            self._initialize(x)
        y = (x + self.bias) * torch.exp(self.log_scale)
        logdet = self.log_scale.sum() * x.shape[2] * x.shape[3]
        return y, logdet.expand(x.shape[0])

    def inverse(self, y: Tensor, context: Context | None = None) -> Tensor:
        return y * torch.exp(-self.log_scale) - self.bias


class Squeeze(FlowStep):
    """Trade resolution for channels: ``(C, H, W) -> (4C, H/2, W/2)``; volume preserving."""

    def forward(self, x: Tensor, context: Context | None = None) -> tuple[Tensor, Tensor]:
        return F.pixel_unshuffle(x, 2), x.new_zeros(x.shape[0])

    def inverse(self, y: Tensor, context: Context | None = None) -> Tensor:
        return F.pixel_shuffle(y, 2)


class ResidualBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.ReLU(),
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(channels, channels, 1),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class CouplingNet(nn.Module):
    """The conditioner of a coupling layer: a small residual CNN giving ``(log_scale, shift)``.

    The last convolution starts at zero, so every coupling starts as the identity map and a deep
    flow trains stably from the first step.
    """

    def __init__(self, in_channels: int, out_channels: int, hidden: int, num_blocks: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, hidden, 3, padding=1),
            *[ResidualBlock(hidden) for _ in range(num_blocks)],
            nn.ReLU(),
        )
        self.head = nn.Conv2d(hidden, 2 * out_channels, 3, padding=1)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)  # type: ignore[arg-type]  # the conv has a bias
        # tanh bounds the log-scale; a learned per-channel factor restores its range.
        self.scale = nn.Parameter(torch.ones(1, out_channels, 1, 1))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        log_scale, shift = self.head(self.net(x)).chunk(2, dim=1)
        return self.scale * torch.tanh(log_scale), shift


def checkerboard(height: int, width: int, parity: int, device: torch.device) -> Tensor:
    """``(1, 1, H, W)`` mask of ones where ``(i + j) % 2 == parity``."""
    i = torch.arange(height, device=device).view(-1, 1)
    j = torch.arange(width, device=device).view(1, -1)
    return ((i + j) % 2 == parity).to(torch.get_default_dtype()).view(1, 1, height, width)


class CheckerboardCoupling(FlowStep):
    """Affine coupling that keeps the pixels of one checkerboard colour and transforms the other."""

    def __init__(
        self, channels: int, hidden: int, num_blocks: int, parity: int, context_channels: int = 0
    ) -> None:
        super().__init__()
        self.parity = parity
        self.context_channels = context_channels
        # The mask is fed as an extra channel so the conditioner knows which pixels are given.
        self.net = CouplingNet(channels + 1 + context_channels, channels, hidden, num_blocks)

    def _params(self, x: Tensor, context: Context | None) -> tuple[Tensor, Tensor]:
        mask = checkerboard(x.shape[2], x.shape[3], self.parity, x.device).to(x.dtype)
        parts = [x * mask, mask.expand(x.shape[0], 1, -1, -1)]
        if self.context_channels:
            parts.append(context_at(context, x, self.context_channels))
        log_scale, shift = self.net(torch.cat(parts, dim=1))
        return log_scale * (1 - mask), shift * (1 - mask)

    def forward(self, x: Tensor, context: Context | None = None) -> tuple[Tensor, Tensor]:
        log_scale, shift = self._params(x, context)
        y = x * torch.exp(log_scale) + shift
        return y, log_scale.flatten(1).sum(1)

    def inverse(self, y: Tensor, context: Context | None = None) -> Tensor:
        # The kept pixels are the same in y and x, so the conditioner sees the same input.
        log_scale, shift = self._params(y, context)
        return (y - shift) * torch.exp(-log_scale)


class ChannelCoupling(FlowStep):
    """Affine coupling that keeps half of the channels and transforms the other half."""

    def __init__(
        self, channels: int, hidden: int, num_blocks: int, parity: int, context_channels: int = 0
    ) -> None:
        super().__init__()
        if channels < 2:
            raise ValueError(f"channel coupling needs >= 2 channels, got {channels}")
        self.parity = parity
        self.context_channels = context_channels
        self.n_keep = channels // 2 if parity == 0 else channels - channels // 2
        self.net = CouplingNet(
            self.n_keep + context_channels, channels - self.n_keep, hidden, num_blocks
        )

    def _split(self, x: Tensor) -> tuple[Tensor, Tensor]:
        if self.parity == 0:
            return x[:, : self.n_keep], x[:, self.n_keep :]
        return x[:, -self.n_keep :], x[:, : -self.n_keep]

    def _join(self, keep: Tensor, change: Tensor) -> Tensor:
        return torch.cat([keep, change] if self.parity == 0 else [change, keep], dim=1)

    def _params(self, keep: Tensor, context: Context | None) -> tuple[Tensor, Tensor]:
        if self.context_channels:
            keep = torch.cat([keep, context_at(context, keep, self.context_channels)], dim=1)
        return self.net(keep)

    def forward(self, x: Tensor, context: Context | None = None) -> tuple[Tensor, Tensor]:
        keep, change = self._split(x)
        log_scale, shift = self._params(keep, context)
        return self._join(keep, change * torch.exp(log_scale) + shift), log_scale.flatten(1).sum(1)

    def inverse(self, y: Tensor, context: Context | None = None) -> Tensor:
        keep, change = self._split(y)
        log_scale, shift = self._params(keep, context)
        return self._join(keep, (change - shift) * torch.exp(-log_scale))


class SequentialFlow(FlowStep):
    """Composition of flow steps; log-determinants add up."""

    def __init__(self, steps: list[FlowStep]) -> None:
        super().__init__()
        self.steps = nn.ModuleList(steps)

    def forward(self, x: Tensor, context: Context | None = None) -> tuple[Tensor, Tensor]:
        logdet = x.new_zeros(x.shape[0])
        for step in self.steps:
            x, ld = step(x, context)
            logdet = logdet + ld
        return x, logdet

    def inverse(self, y: Tensor, context: Context | None = None) -> Tensor:
        for step in reversed(self.steps):
            y = step.inverse(y, context)  # type: ignore[operator]  # every item is a FlowStep
        return y

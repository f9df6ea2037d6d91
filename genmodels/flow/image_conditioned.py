"""A conditional flow ``p(y | c)`` of one image given another of the same size, as a plain
``nn.Module`` (a conditional invertible network in the manner of Ardizzone et al. 2019).

A CNN encodes the condition image ``c`` into feature maps at every resolution of the flow (a
pyramid: full size, then halved per scale), trained jointly with the flow; every coupling of a
:class:`~genmodels.flow.network.MultiScaleFlow` reads the level matching its input. The density
is exact: ``log p(y | c) = log N(z; 0, I) + log |det dz/dy|`` with ``z = f(y; c)``, and sampling
inverts ``f`` at a Gaussian ``z`` (scaled by a temperature).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from genmodels.flow.layers import Context, ResidualBlock
from genmodels.flow.network import MultiScaleFlow


class ContextPyramid(nn.Module):
    """Condition ``(B, Cc, H, W)`` -> ``levels`` feature maps ``(B, K, H / 2**s, W / 2**s)``."""

    def __init__(self, in_channels: int, channels: int, levels: int, num_blocks: int = 2) -> None:
        super().__init__()
        if levels < 1 or channels < 1:
            raise ValueError(f"need levels >= 1 and channels >= 1, got {levels}, {channels}")
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, channels, 3, padding=1),
            *[ResidualBlock(channels) for _ in range(num_blocks)],
        )
        self.down = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(channels, channels, 3, stride=2, padding=1),
                *[ResidualBlock(channels) for _ in range(num_blocks)],
            )
            for _ in range(levels - 1)
        )

    def forward(self, condition: Tensor) -> Context:
        h = self.stem(condition)
        levels = [h]
        for down in self.down:
            h = down(h)
            levels.append(h)
        return tuple(levels)


class ConditionalFlow(nn.Module):
    """``p(y | c)`` for ``y`` ``(B, C, H, W)`` in ``(0, 1)`` given ``c`` ``(B, Cc, H, W)``.

    Args:
        image_shape: ``(C, H, W)`` of ``y``.
        condition_channels: ``Cc``; the condition has ``y``'s height and width.
        context_channels: feature maps per pyramid level fed to every coupling.
        num_scales, hidden_channels, num_blocks, couplings_per_scale, alpha: the flow's, as in
            :class:`~genmodels.flow.network.MultiScaleFlow`.
    """

    def __init__(
        self,
        image_shape: tuple[int, int, int],
        condition_channels: int,
        context_channels: int = 32,
        num_scales: int = 2,
        hidden_channels: int = 64,
        num_blocks: int = 2,
        couplings_per_scale: int = 3,
        alpha: float = 0.05,
    ) -> None:
        super().__init__()
        if context_channels < 1:
            raise ValueError(f"context_channels must be >= 1, got {context_channels}")
        self.image_shape = image_shape
        self.condition_channels = condition_channels
        self.encoder = ContextPyramid(condition_channels, context_channels, num_scales)
        self.flow = MultiScaleFlow(
            image_shape,
            num_scales=num_scales,
            hidden_channels=hidden_channels,
            num_blocks=num_blocks,
            couplings_per_scale=couplings_per_scale,
            alpha=alpha,
            context_channels=context_channels,
        )

    def _context(self, y_shape: tuple[int, ...], condition: Tensor) -> Context:
        want = (self.condition_channels, *self.image_shape[1:])
        if condition.ndim != 4 or tuple(condition.shape[1:]) != want:
            raise ValueError(
                f"condition must be (B, {', '.join(map(str, want))}), got {tuple(condition.shape)}"
            )
        if y_shape[0] != condition.shape[0]:
            raise ValueError(f"{y_shape[0]} images for {condition.shape[0]} conditions")
        return self.encoder(condition)

    def log_density(self, y: Tensor, condition: Tensor) -> Tensor:
        """``log p(y | c)`` in nats ``(B,)``, continuous, for ``y`` in ``(0, 1)``."""
        return self.flow.log_density(y, self._context(tuple(y.shape), condition))

    def sample(
        self,
        condition: Tensor,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """One ``y`` ``(B, C, H, W)`` per condition; ``z ~ N(0, temperature^2 I)``."""
        if temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {temperature}")
        n = condition.shape[0]
        context = self._context((n,), condition)
        d = math.prod(self.image_shape)
        z = torch.randn(n, d, generator=generator, dtype=condition.dtype)
        return self.flow.inverse(temperature * z.to(condition.device), context)

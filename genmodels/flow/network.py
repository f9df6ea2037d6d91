"""The multi-scale RealNVP network (Dinh et al. 2017) as a plain ``nn.Module``.

Maps an image ``y in (0, 1)^(C x H x W)`` to a latent ``z in R^D`` (``D = C H W``) and back:

    logit -> [checkerboard couplings -> squeeze -> channel couplings -> factor out half] x (S - 1)
          -> checkerboard couplings

with ActNorm after every coupling. Half of the channels leave at each scale ("factor out"), so
later scales work on fewer, coarser features. The density is ``log N(z; 0, I) + log|det dz/dy|``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from genmodels.flow.layers import (
    ActNorm,
    ChannelCoupling,
    CheckerboardCoupling,
    Context,
    FlowStep,
    LogitTransform,
    SequentialFlow,
    Squeeze,
)


def _couplings(
    kind: type[CheckerboardCoupling | ChannelCoupling],
    channels: int,
    hidden: int,
    blocks: int,
    n: int,
    context_channels: int,
) -> list[FlowStep]:
    steps: list[FlowStep] = []
    for i in range(n):
        steps += [kind(channels, hidden, blocks, i % 2, context_channels), ActNorm(channels)]
    return steps


class MultiScaleFlow(nn.Module):
    """RealNVP/Glow-style multi-scale flow over images.

    Args:
        image_shape: ``(C, H, W)``; ``H`` and ``W`` must be divisible by ``2 ** (num_scales - 1)``.
        num_scales: number of resolutions; each but the last ends with a squeeze and a factor-out.
        hidden_channels: width of the coupling conditioners.
        num_blocks: residual blocks per conditioner.
        couplings_per_scale: couplings of each kind at each scale (final scale: one more).
        alpha: logit squeeze of the pre-processing (see :class:`LogitTransform`).
        context_channels: ``K > 0`` makes every coupling conditional: ``forward``, ``inverse``
            and ``log_density`` then take a context of ``(B, K, H / 2**s, W / 2**s)`` maps, one
            per scale ``s`` (see :class:`~genmodels.flow.layers.Context`).
    """

    def __init__(
        self,
        image_shape: tuple[int, int, int],
        num_scales: int = 2,
        hidden_channels: int = 64,
        num_blocks: int = 2,
        couplings_per_scale: int = 3,
        alpha: float = 0.05,
        context_channels: int = 0,
    ) -> None:
        super().__init__()
        c, h, w = image_shape
        factor = 2 ** (num_scales - 1)
        if num_scales < 1:
            raise ValueError(f"num_scales must be >= 1, got {num_scales}")
        if h % factor or w % factor:
            raise ValueError(
                f"image size {h}x{w} is not divisible by 2**(num_scales-1) = {factor}; "
                f"use fewer scales or pad the images"
            )
        self.image_shape = (c, h, w)
        self.context_channels = k = context_channels
        self.preprocess = LogitTransform(alpha)
        self.scales = nn.ModuleList()
        for _ in range(num_scales - 1):
            steps = _couplings(
                CheckerboardCoupling, c, hidden_channels, num_blocks, couplings_per_scale, k
            )
            steps.append(Squeeze())
            c, h, w = 4 * c, h // 2, w // 2
            steps += _couplings(
                ChannelCoupling, c, hidden_channels, num_blocks, couplings_per_scale, k
            )
            self.scales.append(SequentialFlow(steps))
            c = c - c // 2  # the other c // 2 channels are factored out
        self.final = SequentialFlow(
            _couplings(
                CheckerboardCoupling, c, hidden_channels, num_blocks, couplings_per_scale + 1, k
            )
        )
        self.num_dims = image_shape[0] * image_shape[1] * image_shape[2]

    def forward(self, y: Tensor, context: Context | None = None) -> tuple[Tensor, Tensor]:
        """``y: (B, C, H, W) in (0, 1)`` -> ``z: (B, D)``, ``logdet: (B,)``."""
        h, logdet = self.preprocess(y)
        factored: list[Tensor] = []
        for scale in self.scales:
            h, ld = scale(h, context)
            logdet = logdet + ld
            n_out = h.shape[1] // 2
            factored.append(h[:, :n_out].flatten(1))
            h = h[:, n_out:]
        h, ld = self.final(h, context)
        factored.append(h.flatten(1))
        return torch.cat(factored, dim=1), logdet + ld

    def inverse(self, z: Tensor, context: Context | None = None) -> Tensor:
        """``z: (B, D)`` -> ``y: (B, C, H, W)`` in ``(0, 1)``."""
        shapes = self._latent_shapes()
        sizes = [math.prod(s) for s in shapes]
        parts = list(torch.split(z, sizes, dim=1))
        h = parts[-1].view(-1, *shapes[-1])
        h = self.final.inverse(h, context)
        for scale, part, shape in zip(
            reversed(self.scales), reversed(parts[:-1]), reversed(shapes[:-1]), strict=True
        ):
            h = torch.cat([part.view(-1, *shape), h], dim=1)
            h = scale.inverse(h, context)  # type: ignore[operator]  # every scale is a SequentialFlow
        return self.preprocess.inverse(h)

    def _latent_shapes(self) -> list[tuple[int, int, int]]:
        c, h, w = self.image_shape
        shapes = []
        for _ in self.scales:
            c, h, w = 4 * c, h // 2, w // 2
            shapes.append((c // 2, h, w))
            c = c - c // 2
        shapes.append((c, h, w))
        return shapes

    def log_density(self, y: Tensor, context: Context | None = None) -> Tensor:
        """Continuous log-density ``log p(y)`` (``log p(y | context)``) in nats, ``(B,)``, for
        ``y in (0, 1)^D``."""
        z, logdet = self(y, context)
        log_base = -0.5 * (z**2).sum(1) - 0.5 * z.shape[1] * math.log(2 * math.pi)
        return log_base + logdet

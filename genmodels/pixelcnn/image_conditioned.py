"""A gated PixelCNN over a map of discrete codes, conditioned on an image, as a plain
``nn.Module``: ``p(codes | c) = prod_i p(code_i | codes_<i, c)`` in raster order.

The codes live on a grid ``factor`` times coarser than the condition image ``c``: a CNN reads
``c`` at full size, is pooled down to the code grid, and every gated block adds a per-position
bias read from those features (a spatial version of the class bias of
:class:`~genmodels.pixelcnn.network.GatedBlock`). The features depend on ``c`` only, so they
are computed once per image and shared by every step of sampling. This is the shape of the
PixColor colorizer (Guadarrama et al. 2017): an autoregressive model of low-resolution colour
given the full-resolution gray image.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genmodels.pixelcnn.network import MaskedConv2d, masked_head


class ConditionEncoder(nn.Module):
    """Condition ``(B, Cc, H, W)`` -> features ``(B, K, H / factor, W / factor)``: dilated
    convolutions at full size, average pooling to the code grid, then convolutions there."""

    def __init__(self, in_channels: int, channels: int, factor: int) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(in_channels, channels, 3, padding=1), nn.ReLU()]
        for dilation in (1, 2, 4):
            layers += [nn.Conv2d(channels, channels, 3, padding=dilation, dilation=dilation)]
            layers += [nn.BatchNorm2d(channels), nn.ReLU()]
        self.full = nn.Sequential(*layers)
        self.factor = factor
        self.coarse = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(channels, channels, 3, padding=2, dilation=2),
            nn.ReLU(),
        )

    def forward(self, condition: Tensor) -> Tensor:
        h = self.full(condition)
        if self.factor > 1:
            h = F.avg_pool2d(h, self.factor)
        return self.coarse(h)


class SpatialGatedBlock(nn.Module):
    """``h + W_o (tanh(W_f h + V_f s) * sigmoid(W_g h + V_g s))``: masked ``B`` convolutions of
    the codes' features ``h``, unmasked 1x1 ones of the condition's features ``s``."""

    def __init__(self, hidden: int, context: int) -> None:
        super().__init__()
        self.filter = MaskedConv2d(hidden, hidden, 3, "B", 1)
        self.gate = MaskedConv2d(hidden, hidden, 3, "B", 1)
        self.out = MaskedConv2d(hidden, hidden, 1, "B", 1)
        self.bias = nn.Conv2d(context, 2 * hidden, 1)

    def forward(self, h: Tensor, s: Tensor) -> Tensor:
        bf, bg = self.bias(s).chunk(2, dim=1)
        return h + self.out(torch.tanh(self.filter(h) + bf) * torch.sigmoid(self.gate(h) + bg))


class ImageConditionedPixelCNN(nn.Module):
    """``p(codes | c)`` for codes ``(B, h, w)`` in ``0..num_codes-1`` given ``c``
    ``(B, Cc, h * factor, w * factor)``.

    Args:
        num_codes: the size of the code book.
        condition_channels: ``Cc``.
        factor: how many times coarser the code grid is than the condition, per side.
        hidden: feature maps of the masked stack.
        num_blocks: gated blocks after the first masked ``A`` convolution.
        context_channels: feature maps of the condition encoder.
    """

    def __init__(
        self,
        num_codes: int,
        condition_channels: int = 1,
        factor: int = 4,
        hidden: int = 64,
        num_blocks: int = 5,
        context_channels: int = 64,
    ) -> None:
        super().__init__()
        if num_codes < 2 or factor < 1:
            raise ValueError(f"need num_codes >= 2 and factor >= 1, got {num_codes}, {factor}")
        self.num_codes, self.factor = num_codes, factor
        self.encoder = ConditionEncoder(condition_channels, context_channels, factor)
        self.first = MaskedConv2d(num_codes, hidden, 5, "A", 1)
        self.first_bias = nn.Conv2d(context_channels, hidden, 1)
        self.blocks = nn.ModuleList(
            SpatialGatedBlock(hidden, context_channels) for _ in range(num_blocks)
        )
        self.head = masked_head(hidden, num_codes, 1)

    def context(self, condition: Tensor) -> Tensor:
        """The condition's features on the code grid; computed once per image."""
        h, w = condition.shape[2:]
        if h % self.factor or w % self.factor:
            raise ValueError(
                f"the condition's sides ({h}x{w}) must be divisible by the factor {self.factor}"
            )
        return self.encoder(condition)

    def logits(self, codes: Tensor, context: Tensor) -> Tensor:
        """``(B, num_codes, h, w)``: the logits of every code given the codes before it."""
        one_hot = F.one_hot(codes, self.num_codes).permute(0, 3, 1, 2).to(context.dtype)
        h = self.first(one_hot) + self.first_bias(context)
        for block in self.blocks:
            h = block(h, context)
        return self.head(h)

    def forward(self, codes: Tensor, condition: Tensor) -> Tensor:
        return self.logits(codes, self.context(condition))

    def log_prob(self, codes: Tensor, condition: Tensor) -> Tensor:
        """``log p(codes | condition)`` in nats per image ``(B,)``."""
        logp = F.log_softmax(self(codes, condition), dim=1)
        return logp.gather(1, codes.unsqueeze(1)).flatten(1).sum(1)

    @torch.no_grad()
    def sample(
        self, condition: Tensor, temperature: float = 1.0, generator: torch.Generator | None = None
    ) -> Tensor:
        """One code map ``(B, h, w)`` per condition, drawn position by position in raster order
        from the logits divided by ``temperature`` (0: the most probable code each step)."""
        context = self.context(condition)
        b, _, h, w = context.shape
        codes = torch.zeros(b, h, w, dtype=torch.long, device=condition.device)
        for row in range(h):
            for col in range(w):
                # rows below never reach this one through the masks, so they are left out
                seen = self.logits(codes[:, : row + 1], context[:, :, : row + 1])
                logits = seen[:, :, row, col]
                if temperature <= 0:
                    codes[:, row, col] = logits.argmax(1)
                    continue
                probs = F.softmax(logits / temperature, dim=1)
                codes[:, row, col] = torch.multinomial(probs, 1, generator=generator)[:, 0]
        return codes

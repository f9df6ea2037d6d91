"""Gated PixelCNN (van den Oord et al. 2016) with masked convolutions, as a plain ``nn.Module``.

Pixels are ordered in raster order and, within a pixel, by channel. Every convolution is masked so
that the output at position ``i`` depends only on inputs before ``i`` (mask ``A``, first layer)
or up to and including ``i`` (mask ``B``, later layers, which never see the raw pixel ``i``
because the first layer hid it). Channels are split into ``C`` contiguous groups; at the centre
tap, group ``g`` of the output sees input groups ``< g`` (``A``) or ``<= g`` (``B``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def _groups(n: int, c: int) -> Tensor:
    if n % c:
        raise ValueError(f"{n} channels cannot be split into {c} colour groups")
    return torch.arange(n) // (n // c)


class MaskedConv2d(nn.Conv2d):
    """A convolution whose kernel only reaches earlier pixels (and earlier colour groups)."""

    mask: Tensor

    def __init__(self, in_ch: int, out_ch: int, kernel: int, mask_type: str, colours: int) -> None:
        super().__init__(in_ch, out_ch, kernel, padding=kernel // 2)
        if mask_type not in ("A", "B"):
            raise ValueError(f"mask_type must be 'A' or 'B', got {mask_type!r}")
        k = kernel // 2
        mask = torch.zeros(out_ch, in_ch, kernel, kernel)
        mask[:, :, :k, :] = 1  # rows above
        mask[:, :, k, :k] = 1  # left in the same row
        g_out, g_in = _groups(out_ch, colours)[:, None], _groups(in_ch, colours)[None, :]
        centre = g_in < g_out if mask_type == "A" else g_in <= g_out
        mask[:, :, k, k] = centre.float()
        self.register_buffer("mask", mask)

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.weight * self.mask, self.bias, padding=self.padding)


def masked_head(hidden: int, out_channels: int, colours: int) -> nn.Sequential:
    """The output head: ReLU, masked 1x1, ReLU, masked 1x1 to ``out_channels`` logits (its
    convolutions at indices 1 and 3, where the cached sampler reads them)."""
    return nn.Sequential(
        nn.ReLU(),
        MaskedConv2d(hidden, hidden, 1, "B", colours),
        nn.ReLU(),
        MaskedConv2d(hidden, out_channels, 1, "B", colours),
    )


class GatedBlock(nn.Module):
    """``h + W_o (tanh(W_f h + b_f(y)) * sigmoid(W_g h + b_g(y)))``, all masked ``B``.

    ``b_f(y), b_g(y)`` are class embeddings when the network is conditional, else zero.
    """

    def __init__(self, hidden: int, colours: int, num_classes: int) -> None:
        super().__init__()
        self.filter = MaskedConv2d(hidden, hidden, 3, "B", colours)
        self.gate = MaskedConv2d(hidden, hidden, 3, "B", colours)
        self.out = MaskedConv2d(hidden, hidden, 1, "B", colours)
        self.embed = nn.Embedding(num_classes, 2 * hidden) if num_classes else None

    def forward(self, h: Tensor, y: Tensor | None) -> Tensor:
        f, g = self.filter(h), self.gate(h)
        if self.embed is not None and y is not None:
            bf, bg = self.embed(y)[:, :, None, None].chunk(2, dim=1)
            f, g = f + bf, g + bg
        return h + self.out(torch.tanh(f) * torch.sigmoid(g))


class PixelCNNNetwork(nn.Module):
    """``x: (B, C, H, W) in [0, 1]`` -> logits ``(B, C, L, H, W)`` over the ``L`` levels."""

    def __init__(
        self,
        channels: int,
        levels: int,
        hidden: int = 64,
        num_blocks: int = 6,
        first_kernel: int = 7,
        num_classes: int = 0,
    ) -> None:
        super().__init__()
        self.channels, self.levels = channels, levels
        self.first = MaskedConv2d(channels, hidden, first_kernel, "A", channels)
        self.blocks = nn.ModuleList(
            GatedBlock(hidden, channels, num_classes) for _ in range(num_blocks)
        )
        # How far (rows up, columns either side) a pixel's prediction can see: the first kernel's
        # half width plus one per gated 3x3 block (the 1x1 convolutions see no further).
        self.reach = first_kernel // 2 + num_blocks
        self.head = masked_head(hidden, channels * levels, channels)

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        h = self.first(2 * x - 1)
        for block in self.blocks:
            h = block(h, y)
        b, _, height, width = x.shape
        return self.head(h).view(b, self.channels, self.levels, height, width)

    def logits_at(self, x: Tensor, y: Tensor | None, row: int, col: int) -> Tensor:
        """Logits ``(B, C, L)`` of pixel ``(row, col)``, equal to ``forward(x, y)[..., row, col]``.

        Exact and cache-free, but cheaper: the masks make the prediction depend only on rows
        ``row - reach .. row`` and columns ``col - reach .. col + reach``, so only that window is
        convolved (zero padding outside it never reaches the pixel), and the head runs on that
        one pixel.
        """
        top, left = max(0, row - self.reach), max(0, col - self.reach)
        window = x[:, :, top : row + 1, left : col + self.reach + 1]
        h = self.first(2 * window - 1)
        for block in self.blocks:
            h = block(h, y)
        pixel = h[:, :, row - top : row - top + 1, col - left : col - left + 1]
        return self.head(pixel).view(x.shape[0], self.channels, self.levels)

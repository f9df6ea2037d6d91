"""PixelCNN sampling with an activation cache: each new value costs one column of the network.

The idea of fast PixelCNN generation (Ramachandran et al. 2017), for this network: every layer's
output at position ``p`` depends only on the layer below at positions up to ``p`` in raster
order (the masks hide the rest), and those are final once the sampler has passed them. So the
sampler keeps every layer's activations over the whole image and, for each value it draws,
computes each layer at that one position from a ``k x k`` patch of the cached layer below:
``C H W`` steps of one column each, instead of the windowed sampler's convolution of a
``(reach + 1) x (2 reach + 1)`` window per step.

Each column is computed with the same convolutions the full network runs (a patch in, one
position out), so the logits, and with them the samples for a given generator, equal the
windowed sampler's (tested, and checked by ``benchmarks/pixelcnn_sampling.py``).
"""

from __future__ import annotations

from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor

from genmodels.pixelcnn.network import GatedBlock, MaskedConv2d, PixelCNNNetwork

_LAST = torch.channels_last


def _masked(conv: MaskedConv2d) -> tuple[Tensor, Tensor | None]:
    return (conv.weight * conv.mask).contiguous(memory_format=_LAST), conv.bias


@torch.no_grad()
def sample_cached(
    net: PixelCNNNetwork,
    n: int,
    image_shape: tuple[int, int, int],
    y: Tensor | None,
    generator: torch.Generator | None,
    temperature: float,
    device: torch.device,
) -> Tensor:
    """``n`` images ``(n, C, H, W)`` on the levels' grid in ``[0, 1]``, drawn value by value."""
    c, height, width = image_shape
    levels = net.levels
    k0 = net.first.kernel_size[0] // 2
    hidden = net.first.out_channels
    w0, b0 = _masked(net.first)
    gated = [cast(GatedBlock, b) for b in net.blocks]
    blocks = [(*_masked(b.filter), *_masked(b.gate), *_masked(b.out)) for b in gated]
    # class embeddings as the gated blocks add them to the filter and the gate
    biases: list[tuple[Tensor, Tensor] | None] = []
    for b in gated:
        embedded = None if b.embed is None or y is None else b.embed(y)[:, :, None, None]
        if embedded is None:
            biases.append(None)
        else:
            bias_f, bias_g = embedded.chunk(2, dim=1)
            biases.append((bias_f, bias_g))
    wh1, bh1 = _masked(cast(MaskedConv2d, net.head[1]))
    wh2, bh2 = _masked(cast(MaskedConv2d, net.head[3]))
    # The first layer convolves 2x - 1 with zero padding: the cache holds 2x - 1 inside a zero
    # border; values not drawn yet hold 2 * 0 - 1 as in the windowed sampler (masked anyway).
    x = torch.zeros(n, c, height, width, device=device)
    xin = F.pad(torch.full((n, c, height, width), -1.0, device=device), (k0, k0, k0, k0))
    xin = xin.contiguous(memory_format=_LAST)
    # h[i]: input of block i (h[0] the first layer's output), h[-1] the head's input; one pixel
    # of zero border so a 3x3 patch around any position is a plain slice
    h = [
        torch.zeros(n, hidden, height + 2, width + 2, device=device).contiguous(memory_format=_LAST)
        for _ in range(len(blocks) + 1)
    ]
    for row in range(height):
        for col in range(width):
            for ch in range(c):
                patch = xin[:, :, row : row + 2 * k0 + 1, col : col + 2 * k0 + 1]
                cur = F.conv2d(patch, w0, b0)  # (n, hidden, 1, 1)
                h[0][:, :, row + 1 : row + 2, col + 1 : col + 2] = cur
                for i, ((wf, bf, wg, bg, wo, bo), extra) in enumerate(
                    zip(blocks, biases, strict=True)
                ):
                    around = h[i][:, :, row : row + 3, col : col + 3]
                    f, g = F.conv2d(around, wf, bf), F.conv2d(around, wg, bg)
                    if extra is not None:
                        f, g = f + extra[0], g + extra[1]
                    cur = cur + F.conv2d(torch.tanh(f) * torch.sigmoid(g), wo, bo)
                    h[i + 1][:, :, row + 1 : row + 2, col + 1 : col + 2] = cur
                out = F.conv2d(F.relu(F.conv2d(F.relu(cur), wh1, bh1)), wh2, bh2)
                logits = out.view(n, c, levels)[:, ch] / temperature
                probs = F.softmax(logits, dim=1).cpu()
                level = torch.multinomial(probs, 1, generator=generator).squeeze(1)
                x[:, ch, row, col] = level.to(x) / (levels - 1)
                xin[:, ch, row + k0, col + k0] = 2 * x[:, ch, row, col] - 1
    return x

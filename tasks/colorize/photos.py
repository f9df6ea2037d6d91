"""Colorize a gray photo of any size with a conditional flow (or a conditional PixelCNN, which
draws a code grid of any size as it is) trained on small images.

The flow is convolutional all through (couplings, squeezes, the context pyramid), and none of its
weights depends on the image size, so the trained weights are loaded into a flow built for the
photo's size: no tiles, no seams. The chroma is drawn at a working size (the photo scaled so its
longer side is ``chroma_side``, as low-resolution chroma under full-resolution luma in the
manner of PixColor: colour varies slowly, and objects then appear at a scale nearer the training
images'), upsampled bilinearly to the photo's size and composed with the photo's own luma, so
the output's luma equals the input exactly (before 8-bit rounding of the file).

Per photo: the estimate (the mean of ``mean_samples`` draws at the flow's estimate temperature,
the posterior mean; for a :class:`~tasks.colorize.stacking.StackedColorizer`, that mean
averaged with the regressor's forecast, drawn at the same working size), ``samples`` single
draws, and an uncertainty map (the per-pixel standard deviation of the draws, averaged over
RGB). Memory stays flat in the number of draws: means and variances are accumulated.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from tasks.colorize.chroma_flow import ChromaFlowModule
from tasks.colorize.chroma_pixelcnn import ChromaPixelCNNModule
from tasks.colorize.color import compose
from tasks.colorize.stacking import StackedColorizer, stacked

#: the amortized posteriors a photo can be colorized with
Colorizer = ChromaFlowModule | ChromaPixelCNNModule


@dataclass(frozen=True)
class PhotoColoring:
    estimate: Tensor  # (3, H, W): the posterior mean
    samples: Tensor  # (k, 3, H, W): single draws
    uncertainty: Tensor  # (H, W): per-pixel std of the draws, mean over RGB
    work_size: tuple[int, int]  # where the chroma was drawn, before padding


def working_size(size: tuple[int, int], chroma_side: int | None) -> tuple[int, int]:
    """``size`` scaled so the longer side is at most ``chroma_side`` (None: kept)."""
    h, w = size
    if chroma_side is None or max(h, w) <= chroma_side:
        return h, w
    scale = chroma_side / max(h, w)
    return max(1, round(h * scale)), max(1, round(w * scale))


def resized_flow(module: ChromaFlowModule, size: tuple[int, int]) -> ChromaFlowModule:
    """The same trained flow built for images of ``size`` (the weights do not depend on it)."""
    if tuple(module.net.image_shape[1:]) == size:
        return module.eval()
    other = ChromaFlowModule(size, module.config)
    other.load_state_dict(module.state_dict())
    other.temperature = module.temperature
    other.estimate_temperature = module.estimate_temperature
    return other.eval()


def _size_multiple(module: Colorizer) -> int:
    """What the working size's sides must be divisible by: the flow's squeezes, or the
    PixelCNN's pooling factor."""
    if isinstance(module, ChromaFlowModule):
        return 2 ** (module.config.num_scales - 1)
    return module.config.factor


def _at_size(module: Colorizer, size: tuple[int, int]) -> Colorizer:
    """The posterior for images of ``size``: the flow rebuilt for it; the PixelCNN as it is (it
    draws a code grid of whatever size the gray image gives)."""
    if isinstance(module, ChromaFlowModule):
        return resized_flow(module, size)
    return module.eval()


def _padded(gray: Tensor, factor: int) -> Tensor:
    """``gray`` ``(1, 1, h, w)`` padded at the bottom and right to sides divisible by
    ``factor`` (mirrored where the image is large enough, else repeated)."""
    h, w = gray.shape[-2:]
    pad_h, pad_w = -h % factor, -w % factor
    if not pad_h and not pad_w:
        return gray
    mode = "reflect" if pad_h < h and pad_w < w else "replicate"
    return F.pad(gray, (0, pad_w, 0, pad_h), mode=mode)


@torch.no_grad()
def colorize_photo(
    module: Colorizer | StackedColorizer,
    gray: Tensor,
    samples: int = 4,
    mean_samples: int = 16,
    chroma_side: int | None = 64,
    generator: torch.Generator | None = None,
) -> PhotoColoring:
    """Colorize one gray image ``(1, H, W)`` in ``[0, 1]`` of any size.

    ``samples`` draws are kept as samples; the uncertainty is the spread of
    ``max(samples, mean_samples)`` draws, the estimate the mean of ``mean_samples`` terms of
    the posterior mean (:func:`~tasks.colorize.amortized.posterior_mean`'s, at the estimate
    temperature; the draws' own mean where the terms are draws at the same temperature),
    stacked with the regressor's forecast where ``module`` is a stacked colorizer.
    """
    if gray.ndim != 3 or gray.shape[0] != 1:
        raise ValueError(f"need one gray image (1, H, W), got {tuple(gray.shape)}")
    if samples < 0 or mean_samples < 1:
        raise ValueError(f"need samples >= 0 and mean_samples >= 1, got {samples}, {mean_samples}")
    stack = module if isinstance(module, StackedColorizer) else None
    module = module.posterior if isinstance(module, StackedColorizer) else module
    full = gray.float().unsqueeze(0)  # (1, 1, H, W)
    size = (full.shape[2], full.shape[3])
    work = working_size(size, chroma_side)
    small = full if work == size else F.interpolate(full, work, mode="area")
    padded = _padded(small, _size_multiple(module))
    flow = _at_size(module, (padded.shape[2], padded.shape[3]))

    def full_size(chroma: Tensor) -> Tensor:
        chroma = chroma[:, :, : work[0], : work[1]]
        if work != size:
            chroma = F.interpolate(chroma, size, mode="bilinear", align_corners=False)
        return compose(full, chroma)

    def draw(temperature: float, term: bool = False) -> Tensor:
        sampler = flow.estimate_chroma if term else flow.sample_chroma
        return full_size(sampler(padded, temperature, generator))

    draws = max(samples, mean_samples)
    total = torch.zeros(1, 3, *size, dtype=torch.float64)
    squares = torch.zeros_like(total)
    kept = []
    for i in range(draws):
        rgb = draw(module.temperature)
        total += rgb
        squares += rgb.double() ** 2
        if i < samples:
            kept.append(rgb[0])
    mean = total / draws
    spread = (squares / draws - mean**2).clamp_min(0).sqrt().mean(1)[0]
    if not module.terms_are_draws or module.estimate_temperature != module.temperature:
        terms = [draw(module.estimate_temperature, term=True) for _ in range(mean_samples)]
        mean = torch.stack(terms).double().mean(0)
    if stack is not None:
        forecast = full_size(stack.regressor.eval()(padded))
        mean = stacked(mean, forecast.double(), stack.weight)
    kept_draws = torch.stack(kept) if kept else torch.empty(0, 3, *size)
    return PhotoColoring(mean[0].float(), kept_draws, spread.float(), work)

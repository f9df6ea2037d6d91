"""The conditional PixelCNN's refinement network: coarse colours plus the full-size gray image in,
full-size chroma out, as PixColor's second stage (Guadarrama et al. 2017).

A drawn code grid names a colour per ``factor x factor`` cell; bilinear upsampling blurs the
colour edges across the cells, where the truth's edges follow the gray image's. The refiner is
a small full-resolution CNN that reads both and adds a correction to the upsampled colours. It
is trained by squared error on the training images, with their own code grids as the coarse
input (the draws it later refines are the PixelCNN's), so it learns the chroma's mean given the
gray image and the coarse colours. Its last layer starts at zero: an untrained refiner is the
plain upsampling.
"""

from __future__ import annotations

import torch
from pydantic import Field
from torch import Tensor, nn

from tasks.colorize.color import luma
from tasks.colorize.regressor import ChromaMSEModule, RegressorSpec, dilated_cnn, fit_mse


class RefinerSpec(RegressorSpec):
    """The refinement stage of the ``conditional-pixelcnn`` arm (``enabled: false``: draws are
    the plain upsampled colours); trained as the regressor is, for fewer epochs."""

    enabled: bool = True
    max_epochs: int = Field(8, ge=1)
    patience: int = Field(3, ge=0)


class ChromaRefiner(nn.Module):
    """``(gray (B, 1, H, W), coarse chroma (B, 2, H, W))`` -> chroma ``(B, 2, H, W)``: the
    coarse chroma plus a correction read from both."""

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        self.net = dilated_cnn(3, width, 2)
        last = self.net[-1]
        assert isinstance(last, nn.Conv2d) and last.bias is not None
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)

    def forward(self, gray: Tensor, coarse: Tensor) -> Tensor:
        return coarse + self.net(torch.cat([2 * gray - 1, 4 * coarse], dim=1))


class RefinerModule(ChromaMSEModule):
    """Trains :class:`ChromaRefiner` on colour images, their coarse colours given by the module
    ``coarse(rgb)`` (moved with this one, not trained)."""

    def __init__(self, config: RefinerSpec, coarse: nn.Module) -> None:
        super().__init__()
        self.net = ChromaRefiner(config.width)
        self.lr = config.lr
        self.coarse = coarse

    def predict(self, rgb: Tensor) -> Tensor:
        with torch.no_grad():
            coarse = self.coarse(rgb)
        return self.net(luma(rgb), coarse)


def fit_refiner(
    train_rgb: Tensor,
    val_rgb: Tensor,
    config: RefinerSpec,
    coarse: nn.Module,
    seed: int,
    accelerator: str = "cpu",
) -> ChromaRefiner:
    """Train a refiner of the coarse colours ``coarse(rgb)`` on ``train_rgb``; the epoch with
    the lowest validation squared error is kept. Returned in eval mode."""
    module = fit_mse(
        lambda: RefinerModule(config, coarse), train_rgb, val_rgb, config, seed, accelerator
    )
    return module.net.eval()

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

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor, nn

from genmodels.settings import Section
from tasks.colorize.color import luma, to_chroma
from tasks.colorize.fitting import fit_on_colour_images
from tasks.colorize.regressor import dilated_cnn


class RefinerSpec(Section):
    """The refinement stage of the ``conditional-pixelcnn`` arm (``enabled: false``: draws are
    the plain upsampled colours)."""

    enabled: bool = True
    width: int = Field(32, ge=1)
    max_epochs: int = Field(8, ge=1)
    batch_size: int = Field(64, ge=1)
    patience: int = Field(3, ge=0)
    lr: float = Field(2e-3, gt=0)


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


class RefinerModule(pl.LightningModule):
    """Trains :class:`ChromaRefiner` on colour images, their coarse colours given by the module
    ``coarse(rgb)`` (moved with this one, not trained); the loss is the chroma's squared
    error."""

    def __init__(self, config: RefinerSpec, coarse: nn.Module) -> None:
        super().__init__()
        self.config = config
        self.net = ChromaRefiner(config.width)
        self.coarse = coarse

    def _loss(self, rgb: Tensor) -> Tensor:
        with torch.no_grad():
            coarse = self.coarse(rgb)
        return F.mse_loss(self.net(luma(rgb), coarse), to_chroma(rgb))

    def training_step(self, batch: tuple[Tensor], batch_idx: int) -> Tensor:
        loss = self._loss(batch[0])
        self.log("train_mse", loss, on_step=False, on_epoch=True, batch_size=len(batch[0]))
        return loss

    def validation_step(self, batch: tuple[Tensor], batch_idx: int) -> None:
        loss = self._loss(batch[0])
        self.log("val_mse", loss, on_step=False, on_epoch=True, batch_size=len(batch[0]))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.net.parameters(), lr=self.config.lr)


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
    module = fit_on_colour_images(
        lambda: RefinerModule(config, coarse),
        train_rgb,
        val_rgb,
        "val_mse",
        config.batch_size,
        config.max_epochs,
        config.patience,
        seed,
        accelerator,
    )
    return module.net.eval()

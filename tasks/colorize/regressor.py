"""The discriminative baseline: a small CNN regressing chroma from gray, trained on the same
colour images as the prior. Its output goes through :func:`~tasks.colorize.color.compose`, so it
reproduces the gray input exactly like every other arm."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import TypeVar

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor, nn

from genmodels.settings import Section
from tasks.colorize.color import compose, luma, to_chroma
from tasks.colorize.fitting import fit_on_colour_images


def dilated_cnn(in_channels: int, width: int, out_channels: int) -> nn.Sequential:
    """A full-resolution CNN ``(B, in, H, W) -> (B, out, H, W)``: 3x3 convolutions dilated 1, 2,
    4 and 1 (a 31-pixel receptive field) with batch norm, then a 1x1 output layer."""
    layers: list[nn.Module] = [nn.Conv2d(in_channels, width, 3, padding=1), nn.ReLU()]
    for dilation in (1, 2, 4, 1):
        layers += [
            nn.Conv2d(width, width, 3, padding=dilation, dilation=dilation),
            nn.BatchNorm2d(width),
            nn.ReLU(),
        ]
    layers.append(nn.Conv2d(width, out_channels, 1))
    return nn.Sequential(*layers)


class ChromaRegressor(nn.Module):
    """Gray ``(B, 1, H, W)`` -> chroma ``(B, 2, H, W)`` in ``[-0.5, 0.5]``; full resolution,
    dilated convolutions for context."""

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        self.net = dilated_cnn(1, width, 2)

    def forward(self, gray: Tensor) -> Tensor:
        return 0.5 * torch.tanh(self.net(2 * gray - 1))


class ChromaMSEModule(pl.LightningModule, ABC):
    """A network of chroma, trained by squared error on colour images (Adam at ``lr``, over
    every parameter); a subclass says what it predicts from a colour image (:meth:`predict`)."""

    lr: float

    @abstractmethod
    def predict(self, rgb: Tensor) -> Tensor:
        """The chroma ``(B, 2, H, W)`` predicted for colour images ``(B, 3, H, W)``."""

    def _loss(self, rgb: Tensor) -> Tensor:
        return F.mse_loss(self.predict(rgb), to_chroma(rgb))

    def training_step(self, batch: tuple[Tensor], batch_idx: int) -> Tensor:
        loss = self._loss(batch[0])
        self.log("train_mse", loss, on_step=False, on_epoch=True, batch_size=len(batch[0]))
        return loss

    def validation_step(self, batch: tuple[Tensor], batch_idx: int) -> None:
        loss = self._loss(batch[0])
        self.log("val_mse", loss, on_step=False, on_epoch=True, batch_size=len(batch[0]))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=self.lr)


class RegressorModule(ChromaMSEModule):
    def __init__(self, width: int = 32, lr: float = 2e-3) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = ChromaRegressor(width)
        self.lr = lr

    def predict(self, rgb: Tensor) -> Tensor:
        return self.net(luma(rgb))


class RegressorSpec(Section):
    """The discriminative colorizer (gray -> chroma CNN) of the ``regressor`` arm."""

    max_epochs: int = Field(30, ge=1)
    batch_size: int = Field(64, ge=1)
    patience: int = Field(5, ge=0)
    lr: float = Field(2e-3, gt=0)
    width: int = Field(32, ge=1)


M = TypeVar("M", bound=ChromaMSEModule)


def fit_mse(
    build: Callable[[], M],
    train_rgb: Tensor,
    val_rgb: Tensor,
    config: RegressorSpec,
    seed: int,
    accelerator: str = "cpu",
) -> M:
    """Fit ``build()`` on colour images ``(N, 3, H, W)`` as ``config`` says; keep the epoch with
    the lowest validation MSE."""
    return fit_on_colour_images(
        build,
        train_rgb,
        val_rgb,
        "val_mse",
        config.batch_size,
        config.max_epochs,
        config.patience,
        seed,
        accelerator,
    )


def train_regressor(
    train_rgb: Tensor, val_rgb: Tensor, config: RegressorSpec, seed: int
) -> RegressorModule:
    """Fit on colour images ``(N, 3, H, W)``; keep the epoch with the lowest validation MSE."""
    return fit_mse(
        lambda: RegressorModule(config.width, config.lr), train_rgb, val_rgb, config, seed
    )


@torch.no_grad()
def regress_colorize(net: ChromaRegressor, gray: Tensor, batch_size: int = 256) -> Tensor:
    """Colour images ``(B, 3, H, W)`` whose luma is exactly ``gray``."""
    net.eval()
    parts = [
        compose(gray[i : i + batch_size], net(gray[i : i + batch_size]))
        for i in range(0, len(gray), batch_size)
    ]
    return torch.cat(parts)

"""Convolutional encoder and decoder of the VAE as plain ``nn.Module`` s."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from genmodels.nets import downsample_factor


class Encoder(nn.Module):
    """``x: (B, C, H, W) in [0, 1]`` (and one-hot labels) -> ``(mu, log_var)``, ``(B, latent)``."""

    def __init__(
        self, image_shape: tuple[int, int, int], hidden: int, latent_dim: int, num_classes: int = 0
    ) -> None:
        super().__init__()
        c, h, w = image_shape
        s = downsample_factor(h, w)
        self.features = nn.Sequential(
            nn.Conv2d(c, hidden, 3, padding=1),
            nn.SiLU(),
            nn.Conv2d(hidden, hidden, 3, stride=s, padding=1),
            nn.SiLU(),
            nn.Conv2d(hidden, hidden, 3, padding=1),
            nn.SiLU(),
            nn.Flatten(),
        )
        self.head = nn.Linear(hidden * (h // s) * (w // s) + num_classes, 2 * latent_dim)

    def forward(self, x: Tensor, onehot: Tensor | None = None) -> tuple[Tensor, Tensor]:
        h = self.features(2 * x - 1)
        if onehot is not None:
            h = torch.cat([h, onehot], dim=1)
        mu, log_var = self.head(h).chunk(2, dim=1)
        return mu, log_var.clamp(-12, 8)


class Decoder(nn.Module):
    """``z: (B, latent)`` (and one-hot labels) -> per-pixel logistic ``(mean, log_scale)``."""

    def __init__(
        self, image_shape: tuple[int, int, int], hidden: int, latent_dim: int, num_classes: int = 0
    ) -> None:
        super().__init__()
        c, h, w = image_shape
        s = downsample_factor(h, w)
        self.shape = (hidden, h // s, w // s)
        self.project = nn.Sequential(
            nn.Linear(latent_dim + num_classes, hidden * (h // s) * (w // s)), nn.SiLU()
        )
        up: list[nn.Module] = [nn.Upsample(scale_factor=2, mode="nearest")] if s == 2 else []
        self.body = nn.Sequential(
            *up,
            nn.Conv2d(hidden, hidden, 3, padding=1),
            nn.SiLU(),
            nn.Conv2d(hidden, hidden, 3, padding=1),
            nn.SiLU(),
            nn.Conv2d(hidden, 2 * c, 3, padding=1),
        )

    def forward(self, z: Tensor, onehot: Tensor | None = None) -> tuple[Tensor, Tensor]:
        if onehot is not None:
            z = torch.cat([z, onehot], dim=1)
        h = self.project(z).view(-1, *self.shape)
        mean, log_scale = self.body(h).chunk(2, dim=1)
        return 0.5 + mean, log_scale.clamp(-7, 2)

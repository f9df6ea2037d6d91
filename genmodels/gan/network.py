"""DCGAN-style generator and discriminator as plain ``nn.Module`` s, for any image size."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from genmodels.nets import downsample_factor


class Generator(nn.Module):
    """``z: (B, latent_dim)`` (and one-hot labels) -> images ``(B, C, H, W)`` in ``[0, 1]``."""

    def __init__(
        self, image_shape: tuple[int, int, int], hidden: int, latent_dim: int, num_classes: int = 0
    ) -> None:
        super().__init__()
        c, h, w = image_shape
        s = downsample_factor(h, w)
        self.shape = (2 * hidden, h // s, w // s)
        self.project = nn.Sequential(
            nn.Linear(latent_dim + num_classes, 2 * hidden * (h // s) * (w // s)),
            nn.BatchNorm1d(2 * hidden * (h // s) * (w // s)),
            nn.ReLU(),
        )
        up: list[nn.Module] = [nn.Upsample(scale_factor=2, mode="nearest")] if s == 2 else []
        self.body = nn.Sequential(
            *up,
            nn.Conv2d(2 * hidden, hidden, 3, padding=1),
            nn.BatchNorm2d(hidden),
            nn.ReLU(),
            nn.Conv2d(hidden, c, 3, padding=1),
            nn.Sigmoid(),
        )

    def forward(self, z: Tensor, onehot: Tensor | None = None) -> Tensor:
        if onehot is not None:
            z = torch.cat([z, onehot], dim=1)
        return self.body(self.project(z).view(-1, *self.shape))


class Discriminator(nn.Module):
    """Images ``(B, C, H, W)`` in ``[0, 1]`` (and labels) -> real/fake logits ``(B,)``.

    With ``num_classes > 0`` the label enters by projection: the logit gains the inner product
    of a learned class embedding with the image features (Miyato & Koyama, 2018).
    """

    def __init__(
        self, image_shape: tuple[int, int, int], hidden: int, num_classes: int = 0
    ) -> None:
        super().__init__()
        c, h, w = image_shape
        s = downsample_factor(h, w)
        features = 2 * hidden * (h // s) * (w // s)
        self.body = nn.Sequential(
            nn.Conv2d(c, hidden, 3, padding=1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(hidden, 2 * hidden, 3, stride=s, padding=1),
            nn.LeakyReLU(0.2),
            nn.Flatten(),
        )
        self.head = nn.Linear(features, 1)
        self.embed = nn.Embedding(num_classes, features) if num_classes > 0 else None

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        h = self.body(2 * x - 1)
        logits = self.head(h).squeeze(1)
        if self.embed is not None:
            if labels is None:
                raise ValueError("this discriminator is class-conditional; pass labels")
            logits = logits + (self.embed(labels) * h).sum(dim=1)
        return logits

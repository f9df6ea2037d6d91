"""DCGAN-style generator and discriminator as plain ``nn.Module`` s, for any image size."""

from __future__ import annotations

from torch import Tensor, nn

from genmodels.nets import downsample_factor


class Generator(nn.Module):
    """``z: (B, latent_dim)`` -> images ``(B, C, H, W)`` in ``[0, 1]``."""

    def __init__(self, image_shape: tuple[int, int, int], hidden: int, latent_dim: int) -> None:
        super().__init__()
        c, h, w = image_shape
        s = downsample_factor(h, w)
        self.shape = (2 * hidden, h // s, w // s)
        self.project = nn.Sequential(
            nn.Linear(latent_dim, 2 * hidden * (h // s) * (w // s)),
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

    def forward(self, z: Tensor) -> Tensor:
        return self.body(self.project(z).view(-1, *self.shape))


class Discriminator(nn.Module):
    """Images ``(B, C, H, W)`` in ``[0, 1]`` -> real/fake logits ``(B,)``."""

    def __init__(self, image_shape: tuple[int, int, int], hidden: int) -> None:
        super().__init__()
        c, h, w = image_shape
        s = downsample_factor(h, w)
        self.body = nn.Sequential(
            nn.Conv2d(c, hidden, 3, padding=1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(hidden, 2 * hidden, 3, stride=s, padding=1),
            nn.LeakyReLU(0.2),
            nn.Flatten(),
            nn.Linear(2 * hidden * (h // s) * (w // s), 1),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.body(2 * x - 1).squeeze(1)

"""Convolutional encoder and decoder of the VAE as plain ``nn.Module`` s."""

from __future__ import annotations

from torch import Tensor, nn

from genmodels.nets import downsample_factor


class Encoder(nn.Module):
    """``x: (B, C, H, W) in [0, 1]`` -> ``(mu, log_var)``, each ``(B, latent_dim)``."""

    def __init__(self, image_shape: tuple[int, int, int], hidden: int, latent_dim: int) -> None:
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
        self.head = nn.Linear(hidden * (h // s) * (w // s), 2 * latent_dim)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        mu, log_var = self.head(self.features(2 * x - 1)).chunk(2, dim=1)
        return mu, log_var.clamp(-12, 8)


class Decoder(nn.Module):
    """``z: (B, latent_dim)`` -> per-pixel logistic ``(mean, log_scale)``, each ``(B, C, H, W)``."""

    def __init__(self, image_shape: tuple[int, int, int], hidden: int, latent_dim: int) -> None:
        super().__init__()
        c, h, w = image_shape
        s = downsample_factor(h, w)
        self.shape = (hidden, h // s, w // s)
        self.project = nn.Sequential(nn.Linear(latent_dim, hidden * (h // s) * (w // s)), nn.SiLU())
        up: list[nn.Module] = [nn.Upsample(scale_factor=2, mode="nearest")] if s == 2 else []
        self.body = nn.Sequential(
            *up,
            nn.Conv2d(hidden, hidden, 3, padding=1),
            nn.SiLU(),
            nn.Conv2d(hidden, hidden, 3, padding=1),
            nn.SiLU(),
            nn.Conv2d(hidden, 2 * c, 3, padding=1),
        )

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
        h = self.project(z).view(-1, *self.shape)
        mean, log_scale = self.body(h).chunk(2, dim=1)
        return 0.5 + mean, log_scale.clamp(-7, 2)

"""How a detector turns raw anomaly maps into the maps it delivers: which kind of map, how much
Gaussian smoothing, and whether each pixel is standardized against the maps of normal images.

Standardizing divides out what every normal image has at a place: a map that is always high
over the ribs or along the vessels is put on the scale of its own spread there, so what remains
high is what normal images do not show. Smoothing turns scattered pixel evidence into regions,
the shape local anomalies have. Which of these a run delivers is chosen on synthetic local
anomalies made from normal validation images (:mod:`tasks.anomaly.localization`); the choice and
the normal statistics travel in the detector's state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from tasks.anomaly.corruptions import gaussian_blur


def smoothed(maps: np.ndarray, sigma: float) -> np.ndarray:
    """``(N, H, W)`` maps blurred by a Gaussian of ``sigma`` pixels (edges replicated)."""
    if sigma <= 0 or len(maps) == 0:
        return np.asarray(maps, dtype=np.float64)
    return gaussian_blur(torch.from_numpy(np.asarray(maps, dtype=np.float64)), sigma).numpy()


@dataclass(frozen=True)
class MapSetting:
    """The delivered map: ``kind``, smoothed by ``sigma`` pixels, then standardized per pixel by
    ``mean`` and ``scale`` (``(H, W)``, from normal images' maps) where they are set."""

    kind: str
    sigma: float = 0.0
    mean: np.ndarray | None = None
    scale: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.sigma < 0:
            raise ValueError(f"map smoothing sigma must be >= 0, got {self.sigma}")
        if (self.mean is None) != (self.scale is None):
            raise ValueError("a standardized map needs both its mean and its scale")

    @classmethod
    def fit(cls, kind: str, sigma: float, normal_maps: np.ndarray | None = None) -> MapSetting:
        """The setting; standardized by the per-pixel mean and spread of ``normal_maps`` (raw
        ``(N, H, W)`` maps of normal images, N >= 2) where they are given."""
        if normal_maps is None:
            return cls(kind, sigma)
        if len(normal_maps) < 2:
            raise ValueError("standardizing a map needs the maps of at least 2 normal images")
        normal = smoothed(normal_maps, sigma)
        spread = normal.std(0)
        floor = max(1e-6 * float(spread.mean()), 1e-12)  # a pixel every normal image agrees on
        return cls(kind, sigma, normal.mean(0), np.maximum(spread, floor))

    @property
    def standardized(self) -> bool:
        return self.mean is not None

    def __call__(self, raw: np.ndarray) -> np.ndarray:
        """The delivered maps of raw ``(N, H, W)`` maps of this kind."""
        out = smoothed(raw, self.sigma)
        if self.mean is not None and self.scale is not None:
            if out.shape[1:] != self.mean.shape:
                raise ValueError(
                    f"maps of shape {out.shape[1:]} do not match the standardization's "
                    f"{self.mean.shape}"
                )
            out = (out - self.mean) / self.scale
        return out

    def describe(self) -> str:
        parts = [self.kind]
        if self.sigma > 0:
            parts.append(f"smoothed {self.sigma:g} px")
        if self.standardized:
            parts.append("standardized on normal images")
        return ", ".join(parts)

    def state(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "sigma": self.sigma,
            "mean": None if self.mean is None else self.mean.tolist(),
            "scale": None if self.scale is None else self.scale.tolist(),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> MapSetting:
        mean, scale = state.get("mean"), state.get("scale")
        return cls(
            str(state["kind"]),
            float(state.get("sigma", 0.0)),
            None if mean is None else np.asarray(mean, dtype=np.float64),
            None if scale is None else np.asarray(scale, dtype=np.float64),
        )

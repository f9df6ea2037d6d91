"""How a detector turns raw anomaly maps into the maps it delivers: which kind of map, how much
Gaussian smoothing, and whether each pixel is standardized against the maps of normal images.

Standardizing divides out what every normal image has at a place: a map that is always high over the
ribs or along the vessels is put on the scale of its own spread there, so what remains high is what
normal images do not show. Smoothing turns scattered pixel evidence into regions, the shape local
anomalies have. A map that is anomalous at both ends (:data:`TWO_SIDED`: too little detail as much
as too much) is read by the size of its standardized value. A joined map (:data:`JOINED`) adds the
standardized maps of its parts, so that a pixel is flagged by whichever part sees it; its raw maps
are ``(N, K, H, W)``, one plane per part. Which of these a run delivers is chosen on synthetic local
anomalies made from normal validation images (:mod:`tasks.anomaly.localization`); the choice and the
normal statistics travel in the detector's state.

Finally a map can be centred: each image's median is subtracted, so that the map says how far a
pixel stands above the rest of its own image, in the map's units. An image that is unusual all
over (another scanner, another exposure) lifts its whole map; centring keeps that lift from
drowning the local evidence of other images when pixels are compared across images, and a local
anomaly covers too little of an image to move its median.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from tasks.anomaly.corruptions import gaussian_blur

#: maps whose standardized values are anomalous either way
TWO_SIDED = frozenset({"detail"})
#: a joined map's parts, in the order of its raw planes
JOINED: dict[str, tuple[str, ...]] = {
    "patch-nn+detail": ("patch-nn", "detail"),
    "patch-nn+features-nn+detail": ("patch-nn", "features-nn", "detail"),
}
#: single maps drawn against the detector's reference normal images
NEEDS_REFERENCES = frozenset({"patch-nn", "features-nn"})


def parts(kind: str) -> tuple[str, ...]:
    """The single maps ``kind`` is made of (itself, unless it is joined)."""
    return JOINED.get(kind, (kind,))


def smoothed(maps: np.ndarray, sigma: float) -> np.ndarray:
    """``(N, H, W)`` or ``(N, K, H, W)`` maps, each plane blurred by a Gaussian of ``sigma``
    pixels (edges replicated)."""
    maps = np.asarray(maps, dtype=np.float64)
    if sigma <= 0 or len(maps) == 0:
        return maps
    planes = torch.from_numpy(maps.reshape(-1, *maps.shape[-2:]))
    return gaussian_blur(planes, sigma).numpy().reshape(maps.shape)


@dataclass(frozen=True)
class MapSetting:
    """The delivered map: ``kind``, smoothed by ``sigma`` pixels, then standardized per pixel by
    ``mean`` and ``scale`` (``(H, W)``, or ``(K, H, W)`` for a joined kind; from normal images'
    maps) where they are set, then, if ``centred``, less each image's median."""

    kind: str
    sigma: float = 0.0
    mean: np.ndarray | None = None
    scale: np.ndarray | None = None
    centred: bool = False

    def __post_init__(self) -> None:
        if self.sigma < 0:
            raise ValueError(f"map smoothing sigma must be >= 0, got {self.sigma}")
        if (self.mean is None) != (self.scale is None):
            raise ValueError("a standardized map needs both its mean and its scale")
        if self.kind in JOINED and self.mean is None:
            raise ValueError(
                f"the joined map '{self.kind}' adds standardized maps: it needs the normal "
                "images' statistics"
            )

    @classmethod
    def fit(
        cls,
        kind: str,
        sigma: float,
        normal_maps: np.ndarray | None = None,
        centred: bool = False,
    ) -> MapSetting:
        """The setting; standardized by the per-pixel mean and spread of ``normal_maps`` (raw
        ``(N, H, W)`` maps of normal images, ``(N, K, H, W)`` for a joined kind, N >= 2) where
        they are given; ``centred``: less each image's median."""
        if normal_maps is None:
            return cls(kind, sigma, centred=centred)
        if len(normal_maps) < 2:
            raise ValueError("standardizing a map needs the maps of at least 2 normal images")
        normal = smoothed(normal_maps, sigma)
        spread = normal.std(0)
        # a pixel every normal image agrees on; each plane of a joined map on its own scale
        planes = spread.reshape(-1, *spread.shape[-2:])
        floor = np.maximum(1e-6 * planes.mean((1, 2)), 1e-12).reshape(-1, 1, 1)
        scale = np.maximum(planes, floor).reshape(spread.shape)
        return cls(kind, sigma, normal.mean(0), scale, centred)

    @property
    def standardized(self) -> bool:
        return self.mean is not None

    @property
    def uses_references(self) -> bool:
        """Whether the map is drawn against the detector's reference normal images."""
        return bool(NEEDS_REFERENCES & set(parts(self.kind)))

    def __call__(self, raw: np.ndarray) -> np.ndarray:
        """The delivered ``(N, H, W)`` maps of raw maps of this kind (``(N, H, W)``, or
        ``(N, K, H, W)`` for a joined kind)."""
        out = self._on_normal_scale(smoothed(raw, self.sigma))
        if not self.centred or len(out) == 0:
            return out
        return out - np.median(out.reshape(len(out), -1), axis=1)[:, None, None]

    def _on_normal_scale(self, out: np.ndarray) -> np.ndarray:
        if self.mean is None or self.scale is None:
            return out
        if out.shape[1:] != self.mean.shape:
            raise ValueError(
                f"maps of shape {out.shape[1:]} do not match the standardization's "
                f"{self.mean.shape}"
            )
        out = (out - self.mean) / self.scale
        if self.kind not in JOINED:
            return np.abs(out) if self.kind in TWO_SIDED else out
        planes = zip(parts(self.kind), out.transpose(1, 0, 2, 3), strict=True)
        return np.sum([np.abs(z) if part in TWO_SIDED else z for part, z in planes], axis=0)

    def describe(self) -> str:
        words = [self.kind]
        if self.sigma > 0:
            words.append(f"smoothed {self.sigma:g} px")
        if self.standardized:
            words.append("standardized on normal images")
            two_sided = [p for p in parts(self.kind) if p in TWO_SIDED]
            if two_sided:
                words.append(f"{' and '.join(two_sided)} read two-sided")
        if self.centred:
            words.append("centred on each image's median")
        return ", ".join(words)

    def state(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "sigma": self.sigma,
            "mean": None if self.mean is None else self.mean.tolist(),
            "scale": None if self.scale is None else self.scale.tolist(),
            "centred": self.centred,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> MapSetting:
        mean, scale = state.get("mean"), state.get("scale")
        return cls(
            str(state["kind"]),
            float(state.get("sigma", 0.0)),
            None if mean is None else np.asarray(mean, dtype=np.float64),
            None if scale is None else np.asarray(scale, dtype=np.float64),
            bool(state.get("centred", False)),
        )

"""Fidelity of synthetic images to real ones in a feature space.

Precision and recall (Kynkäänniemi et al. 2019) and density and coverage (Naeem et al. 2020)
compare k-nearest-neighbour balls around the real and the synthetic features; the Fréchet
distance compares Gaussian fits of the two feature clouds (FID-style, with features of a
classifier trained on the real data, so nothing is downloaded).
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import linalg


def _distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return torch.cdist(torch.from_numpy(a).double(), torch.from_numpy(b).double()).numpy()


def _kth_neighbour_radius(x: np.ndarray, k: int) -> np.ndarray:
    d = _distances(x, x)
    np.fill_diagonal(d, np.inf)
    return np.sort(d, axis=1)[:, k - 1]


def precision_recall_density_coverage(
    real: np.ndarray, fake: np.ndarray, k: int = 5
) -> dict[str, float]:
    """The four manifold metrics, each in ``[0, 1]`` except density (1 on average when the two
    sets are alike); ``real`` and ``fake`` are ``(N, F)`` features."""
    if len(real) <= k or len(fake) <= k:
        raise ValueError(f"need more than k={k} real and synthetic feature vectors")
    real_r = _kth_neighbour_radius(real, k)
    fake_r = _kth_neighbour_radius(fake, k)
    d = _distances(real, fake)  # (N_real, N_fake)
    inside_real = d <= real_r[:, None]  # fake j inside real ball i
    return {
        "precision": float(inside_real.any(0).mean()),
        "recall": float((d <= fake_r[None, :]).any(1).mean()),
        "density": float(inside_real.sum(0).mean() / k),
        "coverage": float((d.min(1) <= real_r).mean()),
    }


def _psd_root(s: np.ndarray) -> np.ndarray:
    w, v = linalg.eigh(s)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """``|mu_a - mu_b|^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2))`` between Gaussian fits.

    ``Tr (S_a S_b)^(1/2)`` is the sum of the square roots of the eigenvalues of the symmetric
    ``S_a^(1/2) S_b S_a^(1/2)`` (similar to ``S_a S_b``): no general matrix square root, so
    singular covariances (fewer images than features, constant features) are exact too."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    root_a = _psd_root(s_a)
    middle = root_a @ s_b @ root_a
    trace_root = np.sqrt(np.clip(linalg.eigvalsh((middle + middle.T) / 2), 0.0, None)).sum()
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(s_a) + np.trace(s_b) - 2 * trace_root)

"""Figures the tasks share (image grids, curves with intervals). Matplotlib with the Agg backend:
no display needed."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure


def image_grid(images: np.ndarray, ncols: int = 8, title: str = "") -> Figure:
    """Grid of ``images (N, C, H, W) in [0, 1]``."""
    n = images.shape[0]
    nrows = max(1, int(np.ceil(n / ncols)))
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(ncols * 0.9, nrows * 0.9 + (0.4 if title else 0))
    )
    for i, ax in enumerate(np.atleast_1d(axes).ravel()):
        ax.axis("off")
        if i < n:
            img = np.transpose(images[i], (1, 2, 0))
            ax.imshow(img.squeeze(-1) if img.shape[-1] == 1 else img, cmap="gray", vmin=0, vmax=1)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def column_grid(
    columns: dict[str, np.ndarray], title: str = "", heat: tuple[str, ...] = ()
) -> Figure:
    """One row per image, one titled column per entry of ``columns`` (each ``(N, C, H, W)`` in
    ``[0, 1]``); columns named in ``heat`` are drawn as heat maps scaled to their own maximum."""
    names = list(columns)
    n = min(len(v) for v in columns.values())
    fig, axes = plt.subplots(
        max(n, 1), len(names), figsize=(len(names) * 1.1, max(n, 1) * 1.1 + 0.5), squeeze=False
    )
    for j, name in enumerate(names):
        images = columns[name]
        top = float(images.max()) if name in heat and images.size else 1.0
        for i in range(n):
            ax = axes[i, j]
            ax.axis("off")
            img = np.transpose(images[i], (1, 2, 0))
            if name in heat:
                ax.imshow(img[..., 0], cmap="magma", vmin=0, vmax=max(top, 1e-8))
            elif img.shape[-1] == 1:
                ax.imshow(img[..., 0], cmap="gray", vmin=0, vmax=1)
            else:
                ax.imshow(np.clip(img, 0, 1))
        axes[0, j].set_title(name, fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def ci_curves(
    groups: dict[str, tuple[list, list, list, list]],
    xlabel: str,
    ylabel: str,
    reference: tuple[str, float] | None = None,
    categorical_x: bool = False,
) -> Figure:
    """One line with error bars per group: ``{label: (x, mean, ci_low, ci_high)}``; an optional
    horizontal reference line ``(label, y)``; categorical x values are spaced evenly."""
    fig, ax = plt.subplots(figsize=(6, 4))
    order = list(dict.fromkeys(str(x) for g in groups.values() for x in g[0]))
    for label, (x, mean, low, high) in groups.items():
        xs = [order.index(str(v)) for v in x] if categorical_x else x
        m, lo, hi = np.asarray(mean), np.asarray(low), np.asarray(high)
        ax.errorbar(xs, m, yerr=[m - lo, hi - m], marker="o", capsize=3, label=label)
    if categorical_x:
        ax.set_xticks(range(len(order)), order)
    if reference is not None:
        ax.axhline(reference[1], color="black", linestyle="--", label=reference[0])
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig

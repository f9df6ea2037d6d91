"""Figures the tasks share (image grids, curves with intervals). Matplotlib with the Agg backend:
no display needed."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure


def tile(images: np.ndarray, ncols: int, pad: int = 1) -> np.ndarray:
    """``images (N, C, H, W)`` laid out ``ncols`` to a row, ``pad`` pixels apart, as one
    ``(rows * (H + pad) - pad, ncols * (W + pad) - pad, C)`` array; gaps and empty cells NaN."""
    n, c, h, w = images.shape
    nrows = max(1, -(-n // ncols))
    out = np.full((nrows * (h + pad) - pad, ncols * (w + pad) - pad, c), np.nan)
    for i in range(n):
        r, q = divmod(i, ncols)
        top, left = r * (h + pad), q * (w + pad)
        out[top : top + h, left : left + w] = np.transpose(images[i], (1, 2, 0))
    return out


def _show(ax: plt.Axes, tiled: np.ndarray, cmap: str = "gray", top: float = 1.0) -> None:
    """Draw a :func:`tile` on ``ax``, its NaN gaps left blank: one channel through ``cmap``
    over ``[0, top]``, three as colour clipped to ``[0, 1]``."""
    ax.axis("off")
    if tiled.shape[-1] == 1:
        ax.imshow(tiled[..., 0], cmap=cmap, vmin=0, vmax=top, interpolation="nearest")
        return
    blank = np.isnan(tiled).any(-1, keepdims=True)
    rgba = np.concatenate([np.clip(np.nan_to_num(tiled), 0, 1), (~blank).astype(float)], -1)
    ax.imshow(rgba, interpolation="nearest")


def image_grid(images: np.ndarray, ncols: int = 8, title: str = "") -> Figure:
    """Grid of ``images (N, C, H, W) in [0, 1]``, drawn as one picture (one axes, not one per
    image: a 64-image grid renders in a fraction of the time)."""
    nrows = max(1, int(np.ceil(images.shape[0] / ncols)))
    fig, ax = plt.subplots(figsize=(ncols * 0.9, nrows * 0.9 + (0.4 if title else 0)))
    _show(ax, tile(images, ncols))
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
        1, len(names), figsize=(len(names) * 1.1, max(n, 1) * 1.1 + 0.5), squeeze=False
    )
    for ax, name in zip(axes[0], names, strict=True):
        images = columns[name][:n]
        if name in heat:
            top = float(images.max()) if images.size else 1.0
            _show(ax, tile(images[:, :1], 1), cmap="magma", top=max(top, 1e-8))
        else:
            _show(ax, tile(images, 1))
        ax.set_title(name, fontsize=7)
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

"""The anomaly task's figures: ROC curves and score histograms of the test split."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from sklearn.metrics import roc_curve

import tasks.plots  # noqa: F401  (selects the Agg backend before any figure is made)
from tasks.anomaly.corruptions import Corrupted


def roc_figure(is_anomaly: np.ndarray, scores: dict[str, np.ndarray]) -> Figure:
    """ROC curves of several detectors on the same test set."""
    fig, ax = plt.subplots(figsize=(5, 5))
    for name, s in scores.items():
        fpr, tpr, _ = roc_curve(is_anomaly, s)
        ax.plot(fpr, tpr, label=name)
    ax.plot([0, 1], [0, 1], "k:", lw=1)
    ax.set(
        xlabel="false-positive rate", ylabel="true-positive rate", title="ROC (anomaly = positive)"
    )
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def score_histogram(
    is_anomaly: np.ndarray, scores: np.ndarray, threshold: float, unit: str
) -> Figure:
    """Histogram of scores of normal vs anomalous test images, with the threshold."""
    fig, ax = plt.subplots(figsize=(6, 4))
    bins = np.histogram_bin_edges(scores, bins=40).tolist()
    ax.hist(scores[~is_anomaly], bins=bins, alpha=0.6, density=True, label="normal")
    if is_anomaly.any():  # normal-only data has no second histogram
        ax.hist(scores[is_anomaly], bins=bins, alpha=0.6, density=True, label="anomalous")
    ax.axvline(threshold, color="k", ls="--", label="threshold")
    ax.set(xlabel=f"anomaly score ({unit})", ylabel="density")
    ax.legend()
    fig.tight_layout()
    return fig


def synthetic_grid(originals: torch.Tensor, synthetic: Corrupted, rows: int = 10) -> Figure:
    """Normal images beside their synthetic anomalies, with the corrupted region outlined."""
    n = min(rows, len(originals))
    fig, axes = plt.subplots(n, 2, figsize=(3.2, 1.5 * n + 0.4), squeeze=False)
    for i in range(n):
        for j, (image, title) in enumerate(
            ((originals[i], "normal"), (synthetic.images[i], synthetic.kinds[i]))
        ):
            ax = axes[i, j]
            pixels = image.permute(1, 2, 0).numpy()
            ax.imshow(pixels.squeeze(-1) if pixels.shape[-1] == 1 else pixels, cmap="gray",
                      vmin=0, vmax=1)  # fmt: skip
            if j == 1 and not synthetic.masks[i].all():
                ax.contour(synthetic.masks[i, 0].numpy(), levels=[0.5], colors="red",
                           linewidths=0.8)  # fmt: skip
            ax.set_title(title, fontsize=7)
            ax.axis("off")
    fig.tight_layout()
    return fig


def maps_grid(
    images: torch.Tensor, maps: np.ndarray, masks: torch.Tensor | None, title: str, rows: int = 8
) -> Figure:
    """Per image: the input, its anomaly map, and the map over the input (with the true region
    outlined where it is known)."""
    n = min(rows, len(images))
    fig, axes = plt.subplots(n, 3, figsize=(4.5, 1.5 * n + 0.5), squeeze=False)
    for i in range(n):
        pixels = images[i].permute(1, 2, 0).numpy()
        gray = pixels.squeeze(-1) if pixels.shape[-1] == 1 else pixels
        heat = maps[i]
        for j, ax in enumerate(axes[i]):
            if j != 1:
                ax.imshow(gray, cmap="gray", vmin=0, vmax=1)
            if j >= 1:
                ax.imshow(heat, cmap="inferno", alpha=1.0 if j == 1 else 0.5)
            if j == 2 and masks is not None and not masks[i].all():
                ax.contour(masks[i, 0].numpy(), levels=[0.5], colors="cyan", linewidths=0.8)
            ax.axis("off")
        if i == 0:
            for ax, name in zip(axes[0], ("input", "map", "overlay"), strict=True):
                ax.set_title(name, fontsize=8)
    fig.suptitle(title, fontsize=8)
    fig.tight_layout()
    return fig

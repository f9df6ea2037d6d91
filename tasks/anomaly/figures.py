"""The anomaly task's figures: ROC curves and score histograms of the test split."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from sklearn.metrics import roc_curve

import tasks.plots  # noqa: F401  (selects the Agg backend before any figure is made)


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
    ax.hist(scores[is_anomaly], bins=bins, alpha=0.6, density=True, label="anomalous")
    ax.axvline(threshold, color="k", ls="--", label="threshold")
    ax.set(xlabel=f"anomaly score ({unit})", ylabel="density")
    ax.legend()
    fig.tight_layout()
    return fig

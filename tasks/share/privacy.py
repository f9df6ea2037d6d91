"""Privacy evidence: how close synthetic images come to training records, and whether the
model's own likelihood tells training records from held-out ones.

- distance to closest record (DCR): for each synthetic image, the L2 pixel distance to its nearest
  training image; the same for held-out real images gives the reference a fresh sample from the
  data distribution would have;
- memorization rate: the share of synthetic images closer to a training record than the
  ``quantile`` (default 1%) of held-out-to-training distances;
- membership inference: AUC of the model's log-likelihood at separating training records from
  held-out ones (0.5: no signal; an overfit model scores its training data higher).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from sklearn.metrics import roc_auc_score
from torch import Tensor


def nearest(queries: Tensor, records: Tensor, batch: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Distance to and index of the nearest record (L2 over pixels) for every query."""
    flat_r = records.flatten(1).double()
    dists, index = [], []
    for i in range(0, len(queries), batch):
        d = torch.cdist(queries[i : i + batch].flatten(1).double(), flat_r)
        best = d.min(1)
        dists.append(best.values)
        index.append(best.indices)
    return torch.cat(dists).numpy(), torch.cat(index).numpy()


@dataclass(frozen=True)
class DistanceAudit:
    synthetic_dcr: np.ndarray  # (N_syn,)
    synthetic_nearest: np.ndarray  # index of the closest training record
    holdout_dcr: np.ndarray  # (N_holdout,)
    quantile: float

    @property
    def threshold(self) -> float:
        return float(np.quantile(self.holdout_dcr, self.quantile))

    @property
    def memorization_rate(self) -> float:
        return float((self.synthetic_dcr < self.threshold).mean())

    @property
    def dcr_ratio(self) -> float:
        """Median synthetic DCR over median held-out DCR (below 1: closer than fresh data)."""
        return float(np.median(self.synthetic_dcr) / max(np.median(self.holdout_dcr), 1e-12))

    def closest(self, n: int) -> np.ndarray:
        """Indices of the ``n`` synthetic images nearest to any training record."""
        return np.argsort(self.synthetic_dcr, kind="stable")[:n]


def distance_audit(
    synthetic: Tensor, train: Tensor, holdout: Tensor, quantile: float = 0.01
) -> DistanceAudit:
    if not 0 < quantile < 1:
        raise ValueError(f"quantile must lie in (0, 1), got {quantile}")
    syn_d, syn_i = nearest(synthetic, train)
    hold_d, _ = nearest(holdout, train)
    return DistanceAudit(syn_d, syn_i, hold_d, quantile)


def membership_auc(train_log_likelihood: np.ndarray, holdout_log_likelihood: np.ndarray) -> float:
    """AUC of "higher likelihood means a training record"."""
    labels = np.r_[np.ones(len(train_log_likelihood)), np.zeros(len(holdout_log_likelihood))]
    scores = np.r_[train_log_likelihood, holdout_log_likelihood]
    if not np.isfinite(scores).all():
        raise ValueError("membership inference needs finite log-likelihoods")
    return float(roc_auc_score(labels, scores))

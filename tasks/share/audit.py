"""The audit a data owner reads before releasing a synthetic data set (or the model).

Splits: the generative model and the real-data classifier train on ``train`` (``val`` picks
epochs); ``holdout`` is real data none of them saw (the privacy reference, and the test set of
the utility and fidelity measures).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from genmodels.contract import GenerativeModel, Likelihood
from genmodels.data.imageset import ImageSet
from tasks.classifier import accuracy, features, train_classifier
from tasks.fidelity import frechet_distance, precision_recall_density_coverage
from tasks.share.privacy import DistanceAudit, distance_audit, membership_auc
from tasks.share.spec import ShareSpec


@dataclass(frozen=True)
class Audit:
    metrics: dict[str, float]
    distances: DistanceAudit
    failures: list[str]

    @property
    def passed(self) -> bool:
        return not self.failures


def _first(images: Tensor, n: int, seed: int) -> Tensor:
    if len(images) <= n:
        return images
    g = torch.Generator().manual_seed(seed)
    return images[torch.randperm(len(images), generator=g)[:n]]


@torch.no_grad()
def log_likelihoods(model: GenerativeModel, images: Tensor, batch_size: int = 256) -> np.ndarray:
    model.eval()
    parts = [
        model.log_likelihood(images[i : i + batch_size]) for i in range(0, len(images), batch_size)
    ]
    return torch.cat(parts).double().numpy()


def audit_release(
    model: GenerativeModel,
    synthetic: ImageSet,
    train: ImageSet,
    val: ImageSet,
    holdout: ImageSet,
    num_classes: int,
    model_bytes: int,
    config: ShareSpec,
    seed: int,
    log: Callable[[str], None] = print,
    dp_epsilon: float = math.inf,
) -> Audit:
    """Fidelity, utility, privacy and compression of ``synthetic`` (labelled) against the real
    splits; then the gate. ``dp_epsilon``: the differential privacy of the model's training
    (``inf``: trained without it)."""
    metrics: dict[str, float] = {
        "n_synthetic": float(len(synthetic)),
        "n_train": float(len(train)),
        "dp_epsilon": dp_epsilon,
    }
    # utility: the same classifier recipe on real and on synthetic training images
    real_clf = train_classifier(train, val, num_classes, config.classifier, seed)
    syn_clf = train_classifier(synthetic, val, num_classes, config.classifier, seed)
    trtr, tstr = accuracy(real_clf, holdout), accuracy(syn_clf, holdout)
    metrics.update({"utility_trtr": trtr, "utility_tstr": tstr, "utility_ratio": tstr / trtr})
    log(f"utility: train-on-real {trtr:.3f}, train-on-synthetic {tstr:.3f} (test on real)")
    # fidelity, in the feature space of the real-data classifier
    cap = config.max_feature_images
    real_f = features(real_clf, _first(holdout.images, cap, seed))
    syn_f = features(real_clf, _first(synthetic.images, cap, seed))
    train_f = features(real_clf, _first(train.images, cap, seed))
    metrics.update(precision_recall_density_coverage(real_f, syn_f, config.k_nn))
    metrics["frechet"] = frechet_distance(real_f, syn_f)
    metrics["frechet_real_reference"] = frechet_distance(real_f, train_f)  # what real data scores
    # privacy: distances to the closest training record, membership inference
    distances = distance_audit(synthetic.images, train.images, holdout.images, config.quantile)
    metrics.update(
        {
            "memorization_rate": distances.memorization_rate,
            "dcr_ratio": distances.dcr_ratio,
            "dcr_synthetic_median": float(np.median(distances.synthetic_dcr)),
            "dcr_holdout_median": float(np.median(distances.holdout_dcr)),
        }
    )
    if model.likelihood is not Likelihood.NONE:
        m = config.max_membership_images
        train_ll = log_likelihoods(model, _first(train.images, m, seed))
        hold_ll = log_likelihoods(model, _first(holdout.images, m, seed))
        metrics["membership_auc"] = membership_auc(train_ll, hold_ll)
        # compression: the model's lossless code length of the training data
        bpd = float(-train_ll.mean() / (model.num_dims * math.log(2)))
        metrics["train_bpd"] = bpd
        metrics["code_length_bytes"] = bpd * model.num_dims * len(train) / 8
    metrics["model_bytes"] = float(model_bytes)
    metrics["dataset_bytes"] = float(train.images.numel())  # one byte per 8-bit pixel value
    metrics["compression_ratio"] = metrics["dataset_bytes"] / max(model_bytes, 1)
    failures = config.gate.failures(metrics)
    return Audit(metrics, distances, failures)

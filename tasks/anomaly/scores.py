"""Anomaly scores from a generative model's likelihood. Higher score = more anomalous."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

from genmodels.contract import GenerativeModel, Likelihood
from genmodels.errors import UnknownNameError
from tasks.requirements import TaskRequirement

REQUIREMENT = TaskRequirement(
    task="anomaly", likelihoods=frozenset({Likelihood.EXACT, Likelihood.BOUND})
)


def _nll(model: GenerativeModel, x: Tensor) -> Tensor:
    """Negative log-likelihood in nats (ELBO-based for BOUND models)."""
    return -model.log_likelihood(x)


def _bpd(model: GenerativeModel, x: Tensor) -> Tensor:
    """Negative log-likelihood in bits per dimension."""
    return model.bits_per_dim(x)


SCORES: dict[str, Callable[[GenerativeModel, Tensor], Tensor]] = {"nll": _nll, "bpd": _bpd}


def score_images(
    model: GenerativeModel, images: Tensor, score: str = "bpd", batch_size: int = 256
) -> np.ndarray:
    """Score ``images (N, C, H, W) in [0, 1]`` in batches; returns ``(N,)`` float64.

    Raises:
        UnknownNameError: ``score`` is not one of :data:`SCORES`.
        CapabilityError: the model has no likelihood.
    """
    if score not in SCORES:
        raise UnknownNameError("score", score, SCORES)
    REQUIREMENT.check(type(model))
    fn = SCORES[score]
    was_training = model.training
    model.eval()
    out = []
    try:
        with torch.inference_mode():
            for start in range(0, images.shape[0], batch_size):
                batch = images[start : start + batch_size].to(
                    model.device, torch.get_default_dtype()
                )
                out.append(fn(model, batch).double().cpu())
    finally:
        model.train(was_training)
    return torch.cat(out).numpy() if out else np.empty(0)

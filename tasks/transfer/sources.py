"""Where the images a student learns from, beside its k real ones, come from; all of them are
labelled by the teacher.

* ``generator``: samples of the spec's generative model;
* ``warps``: classic random affine warps of the k real images (MUNGE-style perturbed copies);
* ``mixup``: convex mixtures ``t a + (1 - t) b`` of two of the k real images, any classes,
  ``t`` uniform in [0, 1] (images between classes, where the teacher's soft labels say most).

* ``generator-and-warps``: half of each, shuffled together (does the generator add to the warps?);
* ``moves``: the k real images moved by the generator's decoded change towards its own draws,
  ``x_a + D(z_t) - D(z_a)`` (:func:`tasks.latent_sampling.latent_moves`; a model with an encoder
  and a decoder): learned warps across classes, each image keeping its own detail;
* ``pool``: the training images themselves (the teacher's and the generator's), drawn at
  random: not a transfer through generated images but its ceiling, what a generator that
  reproduced its training images exactly would give.

Warps and mixup need no generative model: they are the baselines a generator must beat to earn its
place. :func:`diagnose` says what a set of such images carries: how sure the teacher is about
them, how its labels spread over the classes, and how close they lie to real images in the
teacher's feature space (k-NN precision and recall).
"""

from __future__ import annotations

import math
from typing import Literal, get_args

import numpy as np
import torch
from torch import Tensor

from tasks.fidelity import precision_recall_density_coverage
from tasks.warps import classic_augmentation

SourceName = Literal["generator", "warps", "mixup", "generator-and-warps", "moves", "pool"]
SOURCE_NAMES: tuple[SourceName, ...] = get_args(SourceName)


def warped_copies(real: Tensor, n: int, seed: int) -> Tensor:
    """``n`` classic warps of real images drawn with replacement (seeded)."""
    generator = torch.Generator().manual_seed(seed)
    index = torch.randint(0, len(real), (n,), generator=generator)
    return classic_augmentation(seed)(real[index])


def pool_draws(pool: Tensor, n: int, seed: int) -> Tensor:
    """``n`` training images drawn at random: without replacement while the pool lasts."""
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(pool), generator=generator)
    repeats = -(-n // len(pool))
    return pool[order.repeat(repeats)[:n]]


def mixed_pairs(real: Tensor, n: int, seed: int) -> Tensor:
    """``n`` mixtures of two real images drawn with replacement, weights uniform (seeded)."""
    generator = torch.Generator().manual_seed(seed)
    a = torch.randint(0, len(real), (n,), generator=generator)
    b = torch.randint(0, len(real), (n,), generator=generator)
    t = torch.rand(n, 1, 1, 1, generator=generator, dtype=real.dtype)
    return t * real[a] + (1 - t) * real[b]


def diagnose(
    soft: Tensor, features: np.ndarray | None = None, real_features: np.ndarray | None = None,
    k: int = 5,
) -> dict[str, float]:  # fmt: skip
    """What a teacher-labelled set carries: ``confidence`` (mean top probability), ``entropy``
    (mean entropy of the soft labels, bits), ``class_balance`` (entropy of the arg-max labels'
    histogram over log2 K: 1 when every class is as frequent) and, given the teacher's features
    of the set and of real images, ``precision`` (share of the set near real images) and
    ``recall`` (share of real images near the set)."""
    p = soft.double().clamp_min(1e-12)
    k_classes = soft.shape[1]
    counts = torch.bincount(soft.argmax(1), minlength=k_classes).double()
    share = counts / counts.sum()
    nonzero = share[share > 0]
    out = {
        "confidence": float(soft.max(1).values.double().mean()),
        "entropy": float(-(p * p.log2()).sum(1).mean()),
        "class_balance": float(-(nonzero * nonzero.log2()).sum() / math.log2(k_classes)),
    }
    if features is not None and real_features is not None:
        fidelity = precision_recall_density_coverage(real_features, features, k)
        out.update(precision=fidelity["precision"], recall=fidelity["recall"])
    return out

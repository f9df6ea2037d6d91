"""Choosing between arms on the k labelled images alone: stratified cross-validation inside them.

A user with k labelled images per class and no test labels still has to decide whether the
generated images help. The k images are split into folds, stratified by class; each candidate arm
is trained on all folds but one (with its own small early-stopping split, drawn from those folds)
and scored on the held fold. Every candidate sees the same folds, so the comparison is paired.
The default candidate (the first) is replaced only by one with strictly higher pooled
cross-validated accuracy: a tie keeps the cheaper, safer arm.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from genmodels.data.imageset import ImageSet
from genmodels.errors import DataError
from tasks.classifier import ClassifierModule, accuracy
from tasks.fewshot import draw_few_shot

#: trains one arm's classifier on ``fit`` with early stopping on ``val``
ArmTrainer = Callable[[ImageSet, ImageSet], ClassifierModule]


@dataclass(frozen=True)
class Choice:
    """The arm chosen and every candidate's pooled cross-validated accuracy."""

    chosen: str
    cv_accuracy: dict[str, float]


def smallest_inner_class(k: int, folds: int) -> int:
    """Images per class left to train on (fit + early-stopping split) when one fold of ``k``
    images per class is held out: the fewest over folds."""
    return k - -(-k // folds)


def stratified_folds(labels: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """The fold (``0 .. folds - 1``) of every image: each class dealt round-robin over the folds
    in a seeded random order, continuing where the last class stopped so fold sizes stay even."""
    rng = np.random.default_rng(seed)
    fold = np.empty(len(labels), dtype=np.int64)
    dealt = 0
    for c in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == c))
        fold[members] = (dealt + np.arange(len(members))) % folds
        dealt += len(members)
    return fold


def cross_validated_accuracy(labelled: ImageSet, train: ArmTrainer, folds: int, seed: int) -> float:
    """Accuracy on held-out folds, pooled over all ``labelled`` images (each is held out once).

    Raises:
        DataError: a class has too few images to train on once a fold is held out.
    """
    if labelled.labels is None:
        raise DataError("cross-validation needs labelled images")
    fold = stratified_folds(labelled.labels.numpy(), folds, seed)
    correct = 0.0
    for f in range(folds):
        held = labelled.subset(np.flatnonzero(fold == f))
        inner = draw_few_shot(labelled.subset(np.flatnonzero(fold != f)), None, seed)
        correct += accuracy(train(inner.fit, inner.val), held) * len(held)
    return correct / len(labelled)


def choose_arm(
    labelled: ImageSet, candidates: Mapping[str, ArmTrainer], folds: int, seed: int
) -> Choice:
    """The candidate with the highest cross-validated accuracy on ``labelled``; the first
    candidate (the default) unless another is strictly better."""
    if not candidates:
        raise ValueError("choose_arm needs at least one candidate arm")
    scores = {
        arm: cross_validated_accuracy(labelled, train, folds, seed)
        for arm, train in candidates.items()
    }
    default = next(iter(candidates))
    best = max(scores, key=lambda arm: scores[arm])
    chosen = best if scores[best] > scores[default] else default
    return Choice(chosen, scores)

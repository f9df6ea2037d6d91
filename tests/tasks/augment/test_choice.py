"""Choosing an arm inside the k labelled images: folds, held-out scoring, the default on ties."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genmodels.data.imageset import ImageSet
from tasks.augment import AugmentSpec
from tasks.augment.choice import (
    choose_arm,
    cross_validated_accuracy,
    smallest_inner_class,
    stratified_folds,
)
from tasks.classifier import ClassifierSpec, train_classifier

CLASSIFIER = ClassifierSpec(max_epochs=6, batch_size=16, patience=0, width=4)


def _labelled(n_per_class: int = 9, classes: int = 3, seed: int = 0) -> ImageSet:
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(classes).repeat_interleave(n_per_class)
    x = torch.rand(len(labels), 1, 6, 6, generator=g) * 0.3
    for c in range(classes):  # each class lights up its own row band: easy to learn
        x[labels == c, :, 2 * c : 2 * c + 2] += 0.6
    return ImageSet(x.clamp(0, 1), labels, levels=256)


def test_folds_are_stratified_even_and_seeded():
    labels = np.repeat(np.arange(4), [7, 5, 6, 3])
    fold = stratified_folds(labels, 3, seed=1)
    sizes = np.bincount(fold, minlength=3)
    assert sizes.max() - sizes.min() <= 1
    for c in range(4):  # every class spread over the folds as evenly as its count allows
        per_fold = np.bincount(fold[labels == c], minlength=3)
        assert per_fold.max() - per_fold.min() <= 1
    assert np.array_equal(fold, stratified_folds(labels, 3, seed=1))
    assert not np.array_equal(fold, stratified_folds(labels, 3, seed=2))


def test_every_image_is_held_out_once_and_never_trained_on_while_held():
    labelled = _labelled()
    trained_on: list[set[float]] = []

    def spy(fit: ImageSet, val: ImageSet):
        trained_on.append({float(v) for v in torch.cat([fit.images, val.images]).sum((1, 2, 3))})
        return train_classifier(fit, val, 3, CLASSIFIER, seed=0)

    score = cross_validated_accuracy(labelled, spy, folds=3, seed=0)
    keys = [float(v) for v in labelled.images.sum((1, 2, 3))]
    held_counts = [sum(key not in seen for seen in trained_on) for key in keys]
    assert held_counts == [1] * len(keys)  # each image is missing from exactly one fold's fit
    assert len(trained_on) == 3
    assert score > 0.8  # the classes are easy: a real held-out score, not a placeholder


def _shuffled_labels(fit: ImageSet, val: ImageSet):
    """An arm that learns nothing: its labels are permuted."""
    g = torch.Generator().manual_seed(1)
    noisy = ImageSet(fit.images, fit.labels[torch.randperm(len(fit), generator=g)], levels=256)
    return train_classifier(noisy, val, 3, CLASSIFIER, seed=0)


def _honest(fit: ImageSet, val: ImageSet):
    return train_classifier(fit, val, 3, CLASSIFIER, seed=0)


def test_a_better_arm_replaces_the_default_and_a_worse_one_does_not():
    labelled = _labelled()
    choice = choose_arm(labelled, {"bad": _shuffled_labels, "good": _honest}, 3, seed=0)
    assert choice.chosen == "good"
    assert choice.cv_accuracy["good"] > choice.cv_accuracy["bad"]
    kept = choose_arm(labelled, {"good": _honest, "bad": _shuffled_labels}, 3, seed=0)
    assert kept.chosen == "good"


def test_a_tie_keeps_the_default():
    choice = choose_arm(_labelled(), {"default": _honest, "same": _honest}, 3, seed=0)
    assert choice.cv_accuracy["default"] == choice.cv_accuracy["same"]
    assert choice.chosen == "default"


def test_k_too_small_for_the_folds_is_refused_by_the_spec():
    assert smallest_inner_class(3, 3) == 2 and smallest_inner_class(3, 2) == 1
    AugmentSpec(ks=[3], arms=["real", "real+classic+gen-pretrain-cv"])  # 2 per class remain
    with pytest.raises(ValueError, match=r"k=\[2\] is too small"):
        AugmentSpec(ks=[2, 10], arms=["real", "real+classic+gen-pretrain-cv"])
    AugmentSpec(ks=[2], arms=["real", "real+classic"])  # no cross-validation: k = 2 is fine

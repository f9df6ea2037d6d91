"""Labelled images from a generative model (augmentation, sharing): class-conditional
sampling, a class sampler, or a labeller.

A CONDITIONAL model samples each class directly. An unconditional model samples freely and a
classifier trained on the real images (the *labeller*) names each sample, or a *class sampler*
draws images of named classes from it (between the codes of labelled images); with neither it
is refused. The optional quality filter keeps a sample only if the labeller gives its intended
class a probability of at least ``threshold``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from torch import Tensor

from genmodels.contract import Capability, GenerativeModel
from genmodels.errors import CapabilityError

Labeller = Callable[[Tensor], Tensor]  # images -> class probabilities (N, K)
Sampler = Callable[[int, torch.Generator], Tensor]  # (n, generator) -> images (n, C, H, W)
ClassSampler = Callable[[Tensor, torch.Generator], Tensor]  # (classes (n,), generator) -> images


@dataclass(frozen=True)
class Generated:
    images: Tensor
    labels: Tensor
    kept_fraction: float  # after the quality filter (1.0 without one)


def _draws(
    model: GenerativeModel, n: int, num_classes: int, generator: torch.Generator, max_batch: int,
    sampler: Sampler | None = None, class_sampler: ClassSampler | None = None,
) -> Iterator[tuple[Tensor, Tensor | None]]:  # fmt: skip
    """``n`` samples in batches of ``max_batch``: ``(images, intended classes)``, the classes
    cycling through ``0..num_classes-1`` for a CONDITIONAL model or a ``class_sampler``, None
    for an unconditional one (drawn by ``sampler`` where one is given instead of the model's own
    sampler)."""
    conditional = model.supports(Capability.CONDITIONAL)
    for start in range(0, n, max_batch):
        size = min(max_batch, n - start)
        cycled = torch.arange(start, start + size) % num_classes
        if class_sampler is not None:
            yield class_sampler(cycled, generator).cpu(), cycled
        elif sampler is not None and not conditional:
            yield sampler(size, generator).cpu(), None
        else:
            wanted = cycled if conditional else None
            yield model.sample(size, condition=wanted, generator=generator).cpu(), wanted


def sample_images(
    model: GenerativeModel,
    n: int,
    num_classes: int,
    generator: torch.Generator,
    max_batch: int = 512,
) -> Tensor:
    """``n`` unlabelled samples ``(n, C, H, W)``, every class in turn for a CONDITIONAL model."""
    parts = [images for images, _ in _draws(model, n, num_classes, generator, max_batch)]
    return torch.cat(parts) if parts else torch.empty(0, *model.image_shape)


def generate_labelled(
    model: GenerativeModel,
    per_class: int,
    num_classes: int,
    generator: torch.Generator,
    labeller: Labeller | None = None,
    filter_threshold: float | None = None,
    max_batch: int = 512,
    sampler: Sampler | None = None,
    class_sampler: ClassSampler | None = None,
) -> Generated:
    """About ``per_class`` samples per class (fewer after a filter), with labels; an
    unconditional model's draws come from ``sampler`` where one is given, or, named by their
    class, from ``class_sampler`` (which then stands in for the model's own sampling)."""
    if not model.supports(Capability.SAMPLE):
        raise CapabilityError(
            f"model '{model.name}' cannot sample; generated data needs a model that samples"
        )
    conditional = model.supports(Capability.CONDITIONAL)
    if not conditional and labeller is None and class_sampler is None:
        raise CapabilityError(
            f"model '{model.name}' is unconditional: its samples have no labels. Use a "
            "class-conditional model (e.g. vae-cond) or give it a labeller (a classifier "
            "trained on the real images)"
        )
    if filter_threshold is not None and labeller is None:
        raise ValueError("the quality filter needs a labeller to judge the samples")
    parts = []
    draws = _draws(
        model, per_class * num_classes, num_classes, generator, max_batch, sampler, class_sampler
    )
    for images, wanted in draws:
        if wanted is None:
            assert labeller is not None
            wanted = labeller(images).argmax(1)
        parts.append((images, wanted))
    images = torch.cat([p[0] for p in parts])
    labels = torch.cat([p[1] for p in parts]).long()
    if filter_threshold is None:
        return Generated(images, labels, 1.0)
    assert labeller is not None
    confidence = labeller(images).gather(1, labels[:, None]).squeeze(1)
    keep = confidence >= filter_threshold
    return Generated(images[keep], labels[keep], float(keep.float().mean()))

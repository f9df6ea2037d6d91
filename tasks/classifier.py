"""The small CNN classifier the tasks train (augmentation arms, transfer teacher, share audits):
one Lightning recipe for all.

The recipe is fixed (architecture, optimizer, early stopping on the accuracy of a validation split
taken from the *real* labelled images) so arms differ only in their training images.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor, nn
from torch.utils.data import (
    BatchSampler,
    DataLoader,
    RandomSampler,
    Sampler,
    SequentialSampler,
    TensorDataset,
)

from genmodels.data.imageset import ImageSet
from genmodels.nets import downsample_factor
from genmodels.settings import Section
from genmodels.training import seed_all
from tasks.fitting import fit_keep_best

Transform = Callable[[Tensor], Tensor]  # a batch (B, C, H, W) -> an augmented batch


class SmallCNN(nn.Module):
    """Two conv blocks and a linear head: ``(B, C, H, W)`` in [0, 1] -> class logits."""

    def __init__(
        self, image_shape: tuple[int, int, int], num_classes: int, width: int = 32
    ) -> None:
        super().__init__()
        c, h, w = image_shape
        s = downsample_factor(h, w)
        self.features = nn.Sequential(
            nn.Conv2d(c, width, 3, padding=1),
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.Conv2d(width, 2 * width, 3, stride=s, padding=1),
            nn.BatchNorm2d(2 * width),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(4),
            nn.Flatten(),
            nn.Dropout(0.3),
        )
        self.head = nn.Linear(2 * width * 16, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(2 * x - 1))


class ClassifierModule(pl.LightningModule):
    def __init__(
        self, image_shape: tuple[int, int, int], num_classes: int, lr: float = 2e-3, width: int = 32
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = SmallCNN(image_shape, num_classes, width)
        self.lr = lr

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        x, y = batch
        loss = F.cross_entropy(self(x), y)
        self.log("train_loss", loss, on_step=False, on_epoch=True, batch_size=len(y))
        return loss

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        x, y = batch
        logits = self(x)
        self.log_dict(
            {
                "val_acc": (logits.argmax(1) == y).float().mean(),
                "val_loss": F.cross_entropy(logits, y),
            },
            on_step=False,
            on_epoch=True,
            batch_size=len(y),
        )

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=self.lr, weight_decay=1e-4)


def _batches(
    images: Tensor,
    labels: Tensor,
    batch_size: int,
    generator: torch.Generator | None = None,
    transform: Transform | None = None,
) -> DataLoader:
    """Whole batches by index (one gather per batch, no per-image Python), shuffled when a
    ``generator`` is given, with ``transform`` applied to each batch of images."""
    order: Sampler[int] = (
        RandomSampler(range(len(labels)), generator=generator)
        if generator is not None
        else SequentialSampler(range(len(labels)))
    )

    def collate(batch: Any) -> tuple[Tensor, Tensor]:  # (images, labels) of one whole batch
        x, y = batch
        return (transform(x) if transform is not None else x), y

    return DataLoader(
        TensorDataset(images, labels),
        sampler=BatchSampler(order, batch_size, drop_last=False),
        batch_size=None,
        collate_fn=collate,
    )


class ClassifierSpec(Section):
    """The one classifier recipe (augmentation arms, transfer teacher, share audit); a task's
    spec section holds it as ``classifier`` or ``teacher``.

    The defaults are the ones every pipeline run has used: 40 epochs with patience 8 (a
    separate, never-used set of defaults in this module, 60 and 10, was dropped).
    """

    max_epochs: int = Field(40, ge=1)
    batch_size: int = Field(64, ge=1)
    patience: int = Field(8, ge=0)
    lr: float = Field(2e-3, gt=0)
    width: int = Field(32, ge=1)


#: tiny training sets are repeated so that an epoch is at least this many steps
MIN_STEPS_PER_EPOCH = 10


def train_classifier(
    train: ImageSet,
    val: ImageSet,
    num_classes: int,
    config: ClassifierSpec,
    seed: int,
    transform: Transform | None = None,
    init: ClassifierModule | None = None,
) -> ClassifierModule:
    """Train the CNN on ``train`` (with an optional batch augmentation), keep the weights of
    the epoch with the best validation accuracy. With ``init``, training starts from a copy of
    that classifier's weights (fine-tuning; ``init`` itself is left untouched)."""
    if train.labels is None or val.labels is None:
        raise ValueError("the classifier needs labelled training and validation images")
    seed_all(seed)
    model = ClassifierModule(train.image_shape, num_classes, config.lr, config.width)
    if init is not None:
        model.load_state_dict(init.state_dict())
    repeats = max(1, -(-MIN_STEPS_PER_EPOCH * config.batch_size // len(train)))
    images, labels = train.images.repeat(repeats, 1, 1, 1), train.labels.repeat(repeats)
    loader = _batches(
        images, labels, config.batch_size, torch.Generator().manual_seed(seed), transform
    )
    val_loader = _batches(val.images, val.labels, 512)
    fit_keep_best(model, loader, val_loader, "val_acc", "max", config.max_epochs, config.patience)
    return model


@torch.no_grad()
def features(model: ClassifierModule, images: Tensor, batch_size: int = 512) -> np.ndarray:
    """Penultimate-layer features ``(N, F)`` float64: the space in which generated images are
    compared with real ones (k-NN precision and recall, Frechet distance)."""
    model.eval()
    parts = [
        model.net.features(2 * images[i : i + batch_size] - 1)
        for i in range(0, len(images), batch_size)
    ]
    return torch.cat(parts).double().numpy()


@torch.no_grad()
def predict_proba(model: ClassifierModule, images: Tensor, batch_size: int = 512) -> Tensor:
    model.eval()
    out = [
        F.softmax(model(images[i : i + batch_size]), dim=1)
        for i in range(0, len(images), batch_size)
    ]
    return torch.cat(out) if out else torch.empty(0, model.net.head.out_features)


def accuracy(model: ClassifierModule, test: ImageSet) -> float:
    if test.labels is None:
        raise ValueError("accuracy needs labelled test images")
    predicted = predict_proba(model, test.images).argmax(1)
    return float(np.mean((predicted == test.labels).numpy()))

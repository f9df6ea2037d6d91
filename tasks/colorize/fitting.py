"""Training of the task's own colour networks (the regressor, the conditional flow): colour
images in, the best validation epoch kept (:func:`tasks.fitting.fit_keep_best`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import pytorch_lightning as pl
import torch
from torch import Tensor
from torch.utils.data import DataLoader, TensorDataset

from genmodels.training import seed_all
from tasks.fitting import fit_keep_best

M = TypeVar("M", bound=pl.LightningModule)


def fit_on_colour_images(
    build: Callable[[], M],
    train_rgb: Tensor,
    val_rgb: Tensor,
    monitor: str,
    batch_size: int,
    max_epochs: int,
    patience: int,
    seed: int,
    accelerator: str = "cpu",
) -> M:
    """Seed, ``build()`` the module, fit it on colour images ``(N, 3, H, W)``; keep the epoch
    with the lowest validation ``monitor``. Returned on the CPU, whatever trained it."""
    for name, images in (("train", train_rgb), ("val", val_rgb)):
        if images.ndim != 4 or images.shape[1] != 3 or len(images) == 0:
            raise ValueError(f"{name}: need colour images (N, 3, H, W), got {tuple(images.shape)}")
    seed_all(seed)
    module = build()
    loader = DataLoader(
        TensorDataset(train_rgb),
        batch_size=batch_size,
        shuffle=True,
        generator=torch.Generator().manual_seed(seed),
    )
    val_loader = DataLoader(TensorDataset(val_rgb), batch_size=256)
    fit_keep_best(module, loader, val_loader, monitor, "min", max_epochs, patience, accelerator)
    return module.cpu()

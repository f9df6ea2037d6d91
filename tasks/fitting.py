"""One Lightning recipe for the task-side networks (classifiers, regressors): train, keep the
weights of the best validation epoch, stop early."""

from __future__ import annotations

import tempfile
from typing import Literal

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import EarlyStopping, ModelCheckpoint
from torch.utils.data import DataLoader


def fit_keep_best(
    module: pl.LightningModule,
    train_loader: DataLoader,
    val_loader: DataLoader,
    monitor: str,
    mode: Literal["min", "max"],
    max_epochs: int,
    patience: int,
    accelerator: str = "cpu",
) -> pl.LightningModule:
    """Fit ``module`` (on the CPU unless ``accelerator`` says otherwise, e.g. "gpu" in a script
    run on a GPU box); return it in eval mode with its best ``monitor`` epoch's weights.

    The caller seeds (``genmodels.training.seed_all``) before building the module and loaders.
    ``patience = 0`` disables early stopping. Checkpoints live in a temporary folder that is
    removed afterwards.
    """
    with tempfile.TemporaryDirectory(prefix="priorworks-fit-") as tmp:
        checkpoint = ModelCheckpoint(
            dirpath=tmp, monitor=monitor, mode=mode, save_top_k=1, save_weights_only=True
        )
        callbacks: list[pl.Callback] = [checkpoint]
        if patience:
            callbacks.append(EarlyStopping(monitor, mode=mode, patience=patience))
        trainer = pl.Trainer(
            max_epochs=max_epochs,
            accelerator=accelerator,
            devices=1,
            logger=False,
            callbacks=callbacks,
            num_sanity_val_steps=0,
            enable_progress_bar=False,
            enable_model_summary=False,
            # cuBLAS refuses strict determinism without an environment setting: warn there
            deterministic=True if accelerator == "cpu" else "warn",
        )
        trainer.fit(module, train_loader, val_loader)
        if checkpoint.best_model_path:
            state = torch.load(checkpoint.best_model_path, map_location="cpu", weights_only=True)[
                "state_dict"
            ]
            module.load_state_dict(state)
    return module.eval()

"""Fit any zoo model with a Lightning Trainer on in-memory images.

Tracking is attached from outside: callers pass Lightning loggers (the pipeline passes an
MLFlowLogger), so this module never imports MLflow.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback, EarlyStopping, ModelCheckpoint
from torch.utils.data import DataLoader, Sampler, TensorDataset

from genmodels.contract import GenerativeModel
from genmodels.data.imageset import ImageSet
from genmodels.distributed import broadcast_from_leader
from genmodels.errors import PriorworksError
from genmodels.private import (
    DPSGD,
    PrivacyConfig,
    PrivacyReport,
    check_private_trainable,
    private_loader,
)
from genmodels.threads import share


class TrainingDivergedError(PriorworksError):
    """The loss became NaN or Inf."""


@dataclass(frozen=True)
class TrainConfig:
    """How to train. ``patience = 0`` disables early stopping."""

    max_epochs: int = 50
    batch_size: int = 64
    patience: int = 10
    gradient_clip: float | None = 100.0
    limit_train_batches: int | float | None = None
    progress_bar: bool = False
    accelerator: str = "cpu"
    devices: int = 1  # > 1: data-parallel processes (with strategy ddp / ddp_spawn)
    num_nodes: int = 1  # > 1: machines, each running `devices` processes (strategy ddp)
    resume: bool = True  # continue from last.ckpt in the checkpoint folder when there is one
    strategy: str = "auto"  # Lightning strategy: auto, ddp, ddp_spawn, ...
    privacy: PrivacyConfig | None = None  # DP-SGD through Opacus (genmodels.private)


class EpochSampler(Sampler[int]):
    """A random order that depends only on ``(seed, epoch)``: Lightning calls ``set_epoch`` at
    every epoch, so a run resumed from a checkpoint sees the same batches as an uninterrupted one.
    """

    def __init__(self, n: int, seed: int) -> None:
        self.n, self.seed, self.epoch = n, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        return iter(torch.randperm(self.n, generator=g).tolist())

    def __len__(self) -> int:
        return self.n


class _PicklableGenerator(torch.Generator):
    """A CPU generator pickled as the bytes of its state. Spawned processes (``ddp_spawn``)
    receive tensors as file descriptors, and a generator's state is a temporary tensor whose
    descriptor is closed, and its number reused, before the child starts ('bad value(s) in
    fds_to_keep')."""

    def __reduce__(self):
        return (_generator_from_state, (self.get_state().numpy().tobytes(),))


def _generator_from_state(state: bytes) -> _PicklableGenerator:
    generator = _PicklableGenerator()
    generator.set_state(torch.frombuffer(bytearray(state), dtype=torch.uint8))
    return generator


def _loader(ims: ImageSet, batch_size: int, shuffle: bool, seed: int) -> DataLoader:
    tensors: list[torch.Tensor] = [ims.images]
    if ims.labels is not None:
        tensors.append(ims.labels)
    sampler = EpochSampler(len(ims), seed) if shuffle else None
    # A loader's iterator draws a base seed when it is created, from this generator: without one
    # it draws from the global generator, and a resumed run creates its iterator at another
    # moment than an uninterrupted one, shifting every random draw of the epoch (dequantization
    # noise, dropout) after it.
    generator = _PicklableGenerator().manual_seed(seed)
    return DataLoader(
        TensorDataset(*tensors), batch_size=batch_size, sampler=sampler, generator=generator
    )


class _EpochSeed(Callback):
    """Reseed the global generators at every epoch from ``(seed, epoch)`` (dequantization noise,
    dropout, timesteps), so a resumed run draws what the uninterrupted run drew."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def on_train_epoch_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        pl.seed_everything(self.seed * 100_003 + trainer.current_epoch, verbose=False)


class _FailOnNonFinite(Callback):
    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        if loss is not None and not math.isfinite(float(loss)):
            raise TrainingDivergedError(
                f"training loss became {float(loss)} at epoch {trainer.current_epoch}, "
                f"batch {batch_idx}; lower the learning rate or enable gradient clipping"
            )


def seed_all(seed: int) -> None:
    """Seed Python, NumPy and torch; call before building a model so its initialization repeats."""
    pl.seed_everything(seed, workers=True, verbose=False)


@dataclass(frozen=True)
class FitResult:
    model: GenerativeModel
    best_checkpoint: Path | None
    best_score: float | None
    epochs: int
    privacy: PrivacyReport | None = None  # what a DP-SGD training spent


def fit_model(
    model: GenerativeModel,
    train: ImageSet,
    val: ImageSet,
    config: TrainConfig,
    seed: int = 0,
    loggers: list[Any] | None = None,
    checkpoint_dir: str | Path | None = None,
    callbacks: list[Callback] | None = None,
) -> FitResult:
    """Train ``model`` and return it with the weights of its best validation epoch.

    With a ``checkpoint_dir`` holding ``last.ckpt`` from an interrupted run with the same
    settings, training resumes from it (the batches and random draws of every epoch depend only
    on the seed and the epoch, so the result matches an uninterrupted run). ``callbacks`` are
    extra Lightning callbacks (timers, profilers, custom stopping). Closed-form models
    (classical densities) are fit directly on the training images; their ``best_score`` is the
    validation bits/dim.
    """
    if config.privacy is not None:
        check_private_trainable(model)
    seed_all(seed)
    if model.closed_form:
        model.fit_closed_form(train.images, generator=torch.Generator().manual_seed(seed))
        model.eval()
        with torch.no_grad():
            val_bpd = float(model.bits_per_dim(val.images).mean())
        for logger in loggers or []:
            logger.log_metrics({"val_bpd": val_bpd}, step=0)
        return FitResult(model, None, val_bpd, 0)
    if checkpoint_dir is None:
        with tempfile.TemporaryDirectory(prefix="priorworks-ckpt-") as tmp:
            result = _fit(model, train, val, config, seed, loggers, Path(tmp), callbacks)
        return FitResult(result.model, None, result.best_score, result.epochs, result.privacy)
    return _fit(model, train, val, config, seed, loggers, Path(checkpoint_dir), callbacks)


def _fit(
    model: GenerativeModel,
    train: ImageSet,
    val: ImageSet,
    config: TrainConfig,
    seed: int,
    loggers: list[Any] | None,
    ckpt_dir: Path,
    extra_callbacks: list[Callback] | None = None,
) -> FitResult:
    checkpoint = ModelCheckpoint(
        dirpath=ckpt_dir, monitor=model.monitor, mode="min", save_last=True
    )
    callbacks: list[Callback] = [checkpoint, _FailOnNonFinite(), _EpochSeed(seed), ShareCores()]
    callbacks += extra_callbacks or []
    train_loader = _loader(train, config.batch_size, shuffle=True, seed=seed)
    private: DPSGD | None = None
    if config.privacy is not None:
        train_loader = private_loader(train_loader, seed)
        private = DPSGD(config.privacy, len(train), 1.0 / len(train_loader), config.max_epochs)
        callbacks.append(private)
    clip = config.gradient_clip if model.automatic_optimization and private is None else None
    if config.patience > 0 and model.monitor is not None:
        callbacks.append(EarlyStopping(monitor=model.monitor, mode="min", patience=config.patience))
    trainer = pl.Trainer(
        max_epochs=config.max_epochs,
        accelerator=config.accelerator,
        devices=config.devices,
        num_nodes=config.num_nodes,
        strategy=config.strategy,
        logger=loggers if loggers else False,
        callbacks=callbacks,
        # Lightning clips gradients only under automatic optimization (a GAN steps by hand);
        # DP-SGD clips each example's gradient itself.
        gradient_clip_val=clip,
        limit_train_batches=config.limit_train_batches,
        num_sanity_val_steps=0,
        enable_progress_bar=config.progress_bar,
        enable_model_summary=False,
        log_every_n_steps=1,
        deterministic=True,
    )
    model.train()  # Lightning keeps a module's mode; a model scored before must train in train mode
    last = ckpt_dir / "last.ckpt"
    trainer.fit(
        model,
        train_loader,
        _loader(val, config.batch_size, shuffle=False, seed=seed),
        ckpt_path=str(last) if config.resume and last.is_file() else None,
    )
    best = checkpoint.best_model_path if model.monitor is not None else ""
    score = checkpoint.best_model_score
    epochs = trainer.current_epoch
    if model.monitor is not None and last.is_file() and (not best or score is None):
        # spawned processes (ddp_spawn) trained: the callback state lives in their checkpoints
        best, score, epochs = _recover_from_checkpoints(last)
    state = None
    if best and trainer.is_global_zero:
        state = torch.load(best, map_location="cpu", weights_only=False)["state_dict"]
    # only rank 0 writes checkpoints: the other processes of a multi-node training (which may
    # not see its files) get the best weights from it
    state = broadcast_from_leader(state)
    if state is not None:
        model.load_state_dict(state)
    model.eval()
    return FitResult(
        model=model,
        best_checkpoint=Path(best) if best else None,
        best_score=float(score) if score is not None else None,
        epochs=epochs,
        privacy=private.report() if private is not None else None,
    )


def _recover_from_checkpoints(last: Path) -> tuple[str, Any, int]:
    """Best checkpoint path, best score and epochs run, read from the checkpoint files."""
    payload = torch.load(last, map_location="cpu", weights_only=False)
    state: dict[str, Any] = next(
        (v for k, v in payload.get("callbacks", {}).items() if "ModelCheckpoint" in str(k)), {}
    )
    best = str(state.get("best_model_path") or "")
    if best and not Path(best).is_file():
        best = ""
    return best, state.get("best_model_score"), int(payload.get("epoch", -1)) + 1


class ShareCores(Callback):
    """Give this job its fair part of the cores while it trains (:func:`genmodels.threads.share`
    at every batch; it recounts the busy jobs at most once a second). Does nothing in a process
    that did not join."""

    def on_train_batch_start(self, *args: Any) -> None:
        share()

"""Differentially private training: DP-SGD through Opacus, inside the normal Lightning fit.

With a :class:`PrivacyConfig` in :class:`genmodels.training.TrainConfig`, batches are drawn by
Poisson sampling (Opacus ``DPDataLoader``: every training image enters a batch independently
with probability ``q``), per-example gradients are computed by Opacus' hooks on the network's
layers (``GradSampleModule``), each is clipped to ``max_grad_norm`` and Gaussian noise of
standard deviation ``noise_multiplier * max_grad_norm`` is added to their sum (``DPOptimizer``).
The RDP accountant turns (noise multiplier, q, number of steps) into the epsilon spent at delta.

What the guarantee covers: the training split, as the unit of privacy one image. Not covered:
the validation split (early stopping and checkpoint choice read it), and statistics taken
outside the gradient steps (a conditional model's class frequencies, data-initialized layers
such as RealNVP's ActNorm, which sees the first batch). Models trained by hand-written
optimization (GANs) and closed-form models are refused.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback
from torch.utils.data import DataLoader

from genmodels.contract import GenerativeModel
from genmodels.errors import PriorworksError

# Renyi orders the accountant minimizes over: Opacus' defaults (1.1 to 63) and on to 512. For a
# small epsilon (much noise, a low sampling rate) the best order lies beyond 63, where Opacus'
# range stops at a looser bound (and warns); a wider range only ever tightens it. The added
# orders are integers: Opacus' formula for fractional orders loses precision up there (at order
# 181.02 it returns a negative RDP, hence a negative epsilon).
RDP_ORDERS: tuple[float, ...] = (
    *(1 + x / 10.0 for x in range(1, 100)),
    *range(11, 64),
    *(round(64 * 2 ** (k / 4)) for k in range(1, 13)),  # 76, 91, ..., 431, 512
)


class PrivacyError(PriorworksError):
    """Differentially private training cannot run as configured."""


@dataclass(frozen=True)
class PrivacyConfig:
    """DP-SGD settings: give either ``noise_multiplier`` or ``target_epsilon``.

    ``delta`` defaults to ``1 / (10 n)`` for ``n`` training images (below ``1/n``, as a
    meaningful guarantee needs). With ``target_epsilon`` the noise is chosen so that
    ``max_epochs`` epochs spend exactly that budget (fewer, after early stopping, spend less).
    """

    max_grad_norm: float = 1.0
    noise_multiplier: float | None = None
    target_epsilon: float | None = None
    delta: float | None = None

    def __post_init__(self) -> None:
        if (self.noise_multiplier is None) == (self.target_epsilon is None):
            raise PrivacyError("privacy: give exactly one of noise_multiplier and target_epsilon")
        if self.max_grad_norm <= 0:
            raise PrivacyError(f"privacy.max_grad_norm must be > 0, got {self.max_grad_norm}")
        if self.noise_multiplier is not None and self.noise_multiplier <= 0:
            raise PrivacyError(f"privacy.noise_multiplier must be > 0, got {self.noise_multiplier}")
        if self.target_epsilon is not None and self.target_epsilon <= 0:
            raise PrivacyError(f"privacy.target_epsilon must be > 0, got {self.target_epsilon}")
        if self.delta is not None and not 0 < self.delta < 1:
            raise PrivacyError(f"privacy.delta must be in (0, 1), got {self.delta}")


@dataclass(frozen=True)
class PrivacyReport:
    """What a private training spent: (epsilon, delta)-DP for the training split."""

    epsilon: float
    delta: float
    noise_multiplier: float
    max_grad_norm: float
    sample_rate: float
    steps: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_private_trainable(model: GenerativeModel) -> None:
    """Refuse, with the reason, a model DP-SGD cannot train."""
    if model.closed_form:
        raise PrivacyError(
            f"model '{model.name}' is fit in closed form, not by gradient steps; "
            "DP-SGD does not apply"
        )
    if not model.automatic_optimization:
        raise PrivacyError(
            f"model '{model.name}' optimizes by hand (several optimizers); DP-SGD training "
            "supports single-optimizer models (flows, VAEs, PixelCNN, diffusion)"
        )
    from opacus.validators import ModuleValidator  # Opacus loads only for private training

    problems = [str(p) for p in ModuleValidator.validate(model, strict=False)]
    by_kind: dict[str, list[str]] = {}
    for name, kind in _layers_with_buffers(model):
        by_kind.setdefault(kind, []).append(name)
    problems += [
        f"{len(names)} {kind} layer(s) (e.g. {names[0]}) keep buffers, which Opacus' "
        "per-example gradients of custom layers do not support"
        for kind, names in by_kind.items()
    ]
    if problems:
        reasons = "; ".join(sorted(set(problems)))
        raise PrivacyError(f"model '{model.name}' cannot be trained with DP-SGD: {reasons}")


def _layers_with_buffers(module: torch.nn.Module, prefix: str = "") -> list[tuple[str, str]]:
    """Layers Opacus would hand to functorch (trainable, no built-in per-example rule) that
    hold buffers: functorch refuses those when training starts; name them up front."""
    from opacus import GradSampleModule

    kind = type(module).__name__
    trainable = any(p.requires_grad for p in module.parameters(recurse=False))
    if trainable and type(module) not in GradSampleModule.GRAD_SAMPLERS:
        return [(prefix or kind, kind)] if any(True for _ in module.buffers()) else []
    found = []
    for name, child in module.named_children():
        found += _layers_with_buffers(child, f"{prefix}.{name}" if prefix else name)
    return found


def private_loader(loader: DataLoader, seed: int) -> DataLoader:
    """The same data drawn by Poisson sampling (sample rate ``1 / len(loader)``)."""
    from opacus.data_loader import DPDataLoader

    return DPDataLoader.from_data_loader(loader, generator=torch.Generator().manual_seed(seed))


class DPSGD(Callback):
    """Makes the Lightning fit private: per-example gradients, clipping, noise, accounting.

    The accountant's history is saved in checkpoints (``state_dict``), so a resumed training
    keeps counting from where it stopped.
    """

    def __init__(self, config: PrivacyConfig, n_train: int, sample_rate: float, epochs: int):
        from opacus.accountants import RDPAccountant
        from opacus.accountants.utils import get_noise_multiplier

        self.config = config
        self.sample_rate = sample_rate
        self.delta = config.delta if config.delta is not None else 1.0 / (10 * n_train)
        self.noise_multiplier = (
            config.noise_multiplier
            if config.noise_multiplier is not None
            else get_noise_multiplier(
                target_epsilon=config.target_epsilon,
                target_delta=self.delta,
                sample_rate=sample_rate,
                epochs=epochs,
                accountant="rdp",
                alphas=list(RDP_ORDERS),
            )
        )
        self.expected_batch = max(1, round(n_train * sample_rate))
        self.accountant = RDPAccountant()
        self._sampler: Any = None  # opacus.GradSampleModule while training

    def on_train_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        from opacus import GradSampleModule
        from opacus.optimizers import DPOptimizer

        if len(trainer.optimizers) != 1:
            raise PrivacyError("DP-SGD training needs exactly one optimizer")
        # Hooks on every trainable layer record per-example gradients (p.grad_sample); the
        # module itself is not replaced, so Lightning and checkpoints see the same model.
        self._sampler = GradSampleModule(module, loss_reduction="mean", strict=False)
        optimizer = DPOptimizer(
            trainer.optimizers[0],
            noise_multiplier=self.noise_multiplier,
            max_grad_norm=self.config.max_grad_norm,
            expected_batch_size=self.expected_batch,
            loss_reduction="mean",
        )
        optimizer.attach_step_hook(self.accountant.get_optimizer_hook_fn(self.sample_rate))
        trainer.strategy.optimizers = [optimizer]

    def on_train_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        if self._sampler is not None:
            self._sampler.remove_hooks()
            self._sampler = None
        for p in module.parameters():
            p.grad_sample = None  # type: ignore[attr-defined]

    def state_dict(self) -> dict[str, Any]:
        return {"history": list(self.accountant.history)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.accountant.history = [tuple(h) for h in state_dict.get("history", [])]

    def report(self) -> PrivacyReport:
        steps = sum(int(h[2]) for h in self.accountant.history)
        epsilon = self.accountant.get_epsilon(self.delta, alphas=list(RDP_ORDERS)) if steps else 0.0
        return PrivacyReport(
            epsilon=float(epsilon) if math.isfinite(epsilon) else math.inf,
            delta=self.delta,
            noise_multiplier=float(self.noise_multiplier),
            max_grad_norm=self.config.max_grad_norm,
            sample_rate=self.sample_rate,
            steps=steps,
        )

"""The conditional arm: a flow of chroma given gray, ``p(chroma | gray)``, trained on the same
colour images as the prior (the issue's "conditional model" extra arm).

Where the other generative arms apply Bayes' rule to a prior ``p(colour)``, this one learns the
posterior directly. Its samples are exact (the flow is inverted at Gaussian latents; no chains,
no mixing problem) and every one goes through :func:`~tasks.colorize.color.compose`, so it
reproduces the gray input like every other arm. The estimate is the posterior mean: the mean of
``mean_samples`` draws (the Bayes estimate under squared error, as the PSNR scores it).

Chroma ``(Cb, Cr)`` lies in ``[-0.5, 0.5]``; the flow models ``chroma + 0.5`` in ``(0, 1)``,
dequantized during training with uniform noise one 8-bit level wide.

``residual: true`` splits the posterior into a point forecast and what it misses, as regression
plus generative residual models do (e.g. CorrDiff for weather downscaling): a chroma regressor
(:class:`~tasks.colorize.regressor.ChromaRegressor`) is trained first by squared error and
frozen, and the flow models ``chroma - m(gray)`` given the gray image and ``m(gray)``. The shift
has unit Jacobian, so the density of the chroma is the flow's density of the residual and the
bits/dim compare with the plain flow's. The flow then spends its capacity on the uncertainty,
not on the mean, and its draws centre on the regressor's forecast. Which form serves a data
set better is not known in advance, so ``residual: choose`` (the default) trains both and keeps
the one whose estimate is closer to the truth on validation images (:func:`fit_conditional`).
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any, Literal, Self

import pandas as pd
import pytorch_lightning as pl
import torch
from pydantic import Field, field_validator
from torch import Tensor

from genmodels.flow.image_conditioned import ConditionalFlow
from genmodels.settings import existing_file
from tasks.colorize.amortized import CalibrationSpec, calibrate_temperature
from tasks.colorize.color import luma, to_chroma
from tasks.colorize.fitting import fit_on_colour_images
from tasks.colorize.regressor import ChromaRegressor, RegressorSpec, train_regressor

_LEVEL = 1.0 / 255.0


class ConditionalSpec(CalibrationSpec):
    """The ``conditional`` arm: a flow of chroma given gray trained on the same colour images;
    its temperatures as :class:`~tasks.colorize.amortized.CalibrationSpec` sets them."""

    max_epochs: int = Field(20, ge=1)
    batch_size: int = Field(64, ge=1)
    patience: int = Field(4, ge=0)
    lr: float = Field(1e-3, gt=0)
    num_scales: int = Field(2, ge=1)
    hidden_channels: int = Field(32, ge=1)
    num_blocks: int = Field(2, ge=0)
    couplings_per_scale: int = Field(2, ge=1)
    context_channels: int = Field(32, ge=1)
    # model the residual of a frozen chroma regressor (trained first, by task.regressor's
    # settings) instead of the chroma itself; "choose": train both forms, keep the one with the
    # higher validation PSNR of its estimate; mean_width is that regressor's width
    residual: bool | Literal["choose"] = "choose"
    mean_width: int = Field(32, ge=1)
    # a conditional-flow file trained elsewhere (benchmarks/train_model_file.py --model
    # colorize-conditional), used instead of training the arm's flow; its architecture must
    # match the keys above
    weights: str | None = None

    @field_validator("weights")
    @classmethod
    def _weights_file_exists(cls, v: str | None) -> str | None:
        return existing_file(v, "task.conditional.weights")


def check_image_size(config: ConditionalSpec, size: tuple[int, int]) -> None:
    """Raise ValueError unless ``config``'s flow can model images of ``size`` (H, W)."""
    factor = 2 ** (config.num_scales - 1)
    if size[0] % factor or size[1] % factor:
        raise ValueError(
            f"the conditional arm's flow has {config.num_scales} scales and needs image sides "
            f"divisible by {factor}; the images are {size[0]}x{size[1]} (lower "
            f"task.conditional.num_scales or resize the data)"
        )


class ChromaFlowModule(pl.LightningModule):
    """Trains :class:`ConditionalFlow` on ``chroma | luma`` of colour images; the loss is the
    negative log-likelihood in bits per chroma dimension."""

    terms_are_draws = True  # its estimate averages its draws

    def __init__(self, image_size: tuple[int, int], config: ConditionalSpec) -> None:
        super().__init__()
        self.config = config
        # the temperature draws use: the spec's, or 1 until calibrate_temperature sets it; and
        # the one of the draws averaged into the estimate (the same unless calibrated apart)
        if config.residual == "choose":
            raise ValueError("a flow is built in one form: residual true or false, not 'choose'")
        self.temperature = 1.0 if config.temperature == "calibrate" else float(config.temperature)
        self.estimate_temperature = self.temperature
        # the frozen point forecast whose residual the flow models (residual: true)
        self.mean_net = ChromaRegressor(config.mean_width) if config.residual else None
        if self.mean_net is not None:
            self.mean_net.requires_grad_(False).eval()
        self.net = ConditionalFlow(
            (2, *image_size),
            condition_channels=3 if config.residual else 1,
            context_channels=config.context_channels,
            num_scales=config.num_scales,
            hidden_channels=config.hidden_channels,
            num_blocks=config.num_blocks,
            couplings_per_scale=config.couplings_per_scale,
        )

    def set_mean(self, regressor: ChromaRegressor) -> None:
        """Take a trained regressor's weights as the frozen forecast of a residual flow."""
        if self.mean_net is None:
            raise ValueError("this conditional flow models the chroma itself (residual: false)")
        self.mean_net.load_state_dict(regressor.state_dict())

    def train(self, mode: bool = True) -> Self:
        """Training mode for the flow; the frozen forecast stays in eval mode, so its batch-norm
        statistics never move."""
        super().train(mode)
        if self.mean_net is not None:
            self.mean_net.eval()
        return self

    def _condition(self, gray: Tensor) -> tuple[Tensor, Tensor | None]:
        """The flow's condition for gray images ``(B, 1, H, W)``, and the forecast the flow's
        output is added to (None: the flow models the chroma itself)."""
        if self.mean_net is None:
            return gray, None
        with torch.no_grad():
            mean = self.mean_net(gray)
        return torch.cat([gray, mean], 1), mean

    def bits_per_dim(self, rgb: Tensor, dequantize: bool) -> Tensor:
        """``-log2 p(chroma | gray)`` per chroma dimension ``(B,)``, as the probability of a bin
        1/255 wide around each chroma value (density times bin width), so it reads like the
        zoo's bits/dim of 8-bit images."""
        condition, mean = self._condition(luma(rgb))
        y = to_chroma(rgb) + 0.5 - (0.0 if mean is None else mean)
        if dequantize:
            y = y + (torch.rand_like(y) - 0.5) * _LEVEL
        y = y.clamp(0.0, 1.0)
        nats = -self.net.log_density(y, condition) / y[0].numel()
        return nats / math.log(2) + math.log2(255.0)

    def sample_chroma(
        self, gray: Tensor, temperature: float, generator: torch.Generator | None = None
    ) -> Tensor:
        """One chroma draw ``(B, 2, H, W)`` per gray image ``(B, 1, H, W)`` (not yet clipped to
        the valid colours: :func:`~tasks.colorize.color.compose` does that)."""
        condition, mean = self._condition(gray)
        y = self.net.sample(condition, temperature, generator) - 0.5
        return y if mean is None else y + mean

    def estimate_chroma(
        self, gray: Tensor, temperature: float, generator: torch.Generator | None = None
    ) -> Tensor:
        """One draw's share of the posterior mean: the draw itself."""
        return self.sample_chroma(gray, temperature, generator)

    def training_step(self, batch: tuple[Tensor], batch_idx: int) -> Tensor:
        loss = self.bits_per_dim(batch[0], dequantize=True).mean()
        self.log("train_bpd", loss, on_step=False, on_epoch=True, batch_size=len(batch[0]))
        return loss

    def validation_step(self, batch: tuple[Tensor], batch_idx: int) -> None:
        loss = self.bits_per_dim(batch[0], dequantize=False).mean()
        self.log("val_bpd", loss, on_step=False, on_epoch=True, batch_size=len(batch[0]))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.net.parameters(), lr=self.config.lr)

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        torch.nn.utils.clip_grad_norm_(self.parameters(), 50.0)


def _forecast(
    train_rgb: Tensor,
    val_rgb: Tensor,
    config: ConditionalSpec,
    seed: int,
    mean: ChromaRegressor | RegressorSpec | None,
) -> ChromaRegressor:
    """``mean`` if it is a trained regressor, else one trained now with its settings."""
    if isinstance(mean, ChromaRegressor):
        return mean
    settings = (mean or RegressorSpec()).model_copy(update={"width": config.mean_width})
    return train_regressor(train_rgb, val_rgb, settings, seed).net


def train_conditional(
    train_rgb: Tensor,
    val_rgb: Tensor,
    config: ConditionalSpec,
    seed: int,
    accelerator: str = "cpu",
    mean: ChromaRegressor | RegressorSpec | None = None,
) -> ChromaFlowModule:
    """Fit on colour images ``(N, 3, H, W)``; keep the epoch with the lowest validation NLL.

    A residual flow (``config.residual``) needs its forecast first: ``mean``, a trained
    regressor of width ``config.mean_width``, or the settings to train one on the same images
    (None: the defaults)."""
    if config.residual == "choose":
        raise ValueError("train_conditional trains one form; fit_conditional chooses between them")
    size = (train_rgb.shape[2], train_rgb.shape[3])
    regressor = _forecast(train_rgb, val_rgb, config, seed, mean) if config.residual else None

    def build() -> ChromaFlowModule:
        module = ChromaFlowModule(size, config)
        if regressor is not None:
            module.set_mean(regressor)
        return module

    return fit_on_colour_images(
        build,
        train_rgb,
        val_rgb,
        "val_bpd",
        config.batch_size,
        config.max_epochs,
        config.patience,
        seed,
        accelerator,
    )


#: What a conditional-flow file must share with the spec to be loaded in its place.
ARCHITECTURE = (
    "num_scales",
    "hidden_channels",
    "num_blocks",
    "couplings_per_scale",
    "context_channels",
    "residual",
    "mean_width",
)
#: what a file written before a key existed was built with
_ARCHITECTURE_DEFAULTS = {"residual": False, "mean_width": 32}
_FILE_KIND = "priorworks-chroma-flow"
#: where a colorize run keeps its conditional flow among its artifacts
CONDITIONAL_ARTIFACT = "conditional/chroma_flow.pt"


def _contents(module: ChromaFlowModule) -> dict[str, object]:
    return {
        "kind": _FILE_KIND,
        "architecture": {k: getattr(module.config, k) for k in ARCHITECTURE},
        "image_size": list(module.net.image_shape[1:]),
        "temperature": module.temperature,
        "estimate_temperature": module.estimate_temperature,
        "state_dict": module.state_dict(),
    }


def save_conditional(module: ChromaFlowModule, path: str | Path) -> Path:
    """Write a trained conditional flow (architecture, image size, weights) to ``path``."""
    path = Path(path)
    torch.save(_contents(module), path)
    return path


def conditional_bytes(module: ChromaFlowModule) -> bytes:
    """The file :func:`save_conditional` writes, as bytes (for a run's artifacts)."""
    buffer = io.BytesIO()
    torch.save(_contents(module), buffer)
    return buffer.getvalue()


def _architecture(saved: dict[str, Any]) -> dict[str, Any]:
    return _ARCHITECTURE_DEFAULTS | dict(saved["architecture"])


def _read(path: str | Path) -> dict[str, Any]:
    try:
        saved = torch.load(Path(path), map_location="cpu", weights_only=True)
    except Exception as err:  # any unreadable file: say which and why
        raise ValueError(f"conditional weights '{path}' cannot be read: {err}") from err
    if not isinstance(saved, dict) or saved.get("kind") != _FILE_KIND:
        raise ValueError(
            f"conditional weights '{path}' is not a conditional-flow file (write one with "
            f"benchmarks/train_model_file.py --model colorize-conditional, or take "
            f"conditional/chroma_flow.pt from a colorize run)"
        )
    return saved


def read_conditional(path: str | Path, temperature: float | None = None) -> ChromaFlowModule:
    """A conditional flow file as it was built (the architecture and image size it records),
    drawing at ``temperature`` for samples and estimate alike (None: the temperatures the file
    records, calibrated where its run did; 1 for older files); ValueError naming the file if it
    is not one."""
    saved = _read(path)
    recorded = float(saved.get("temperature", 1.0))
    estimate = float(saved.get("estimate_temperature", recorded))
    config = ConditionalSpec(
        **_architecture(saved), temperature=recorded if temperature is None else temperature
    )
    size = tuple(int(v) for v in saved["image_size"])
    module = ChromaFlowModule((size[0], size[1]), config)
    module.load_state_dict(saved["state_dict"])
    if temperature is None:
        module.estimate_temperature = estimate
    return module.eval()


def load_conditional(
    path: str | Path, config: ConditionalSpec, image_size: tuple[int, int]
) -> ChromaFlowModule:
    """A conditional flow trained elsewhere (:func:`save_conditional`), in place of training one
    with ``config``; ValueError naming what differs if the file was built otherwise."""
    saved = _read(path)
    mine = {k: getattr(config, k) for k in ARCHITECTURE} | {"image_size": list(image_size)}
    theirs = _architecture(saved) | {"image_size": list(saved["image_size"])}
    if config.residual == "choose":  # either form will do
        mine["residual"] = theirs["residual"]
    differ = [k for k in mine if mine[k] != theirs.get(k)]
    if differ:
        detail = ", ".join(f"{k}: file {theirs.get(k)!r}, spec {mine[k]!r}" for k in differ)
        raise ValueError(f"conditional weights '{path}' were built differently ({detail})")
    module = ChromaFlowModule(image_size, config.model_copy(update={"residual": mine["residual"]}))
    module.load_state_dict(saved["state_dict"])
    return module.eval()


def fit_conditional(
    train_rgb: Tensor,
    val_rgb: Tensor,
    config: ConditionalSpec,
    seed: int,
    mean: ChromaRegressor | RegressorSpec | None = None,
) -> tuple[ChromaFlowModule, pd.DataFrame]:
    """Train the conditional flow in the form ``config.residual`` names, or in both forms if it
    says ``choose``; calibrate each on validation images (:func:`calibrate_temperature`, or at
    the fixed temperature) and keep the form whose estimate has the higher validation PSNR
    (ties: the plain flow, the simpler one). Only ``train_rgb`` and ``val_rgb`` are seen.

    Returns the flow kept and the validation grid of every form trained (a ``residual`` column;
    ``kept`` marks the rows of the form kept)."""
    forms = [False, True] if config.residual == "choose" else [bool(config.residual)]
    if True in forms:  # one forecast, trained before either form
        mean = _forecast(train_rgb, val_rgb, config, seed, mean)
    # a fixed temperature: the grid is that one temperature, for both draws and estimate
    fixed = {} if config.temperature == "calibrate" else {"temperatures": [config.temperature]}
    fitted = []
    for residual in forms:
        form = config.model_copy(update={"residual": residual, **fixed})
        flow = train_conditional(train_rgb, val_rgb, form, seed, mean=mean)
        grid = calibrate_temperature(flow, val_rgb, torch.Generator().manual_seed(seed))
        estimate = grid.loc[grid["temperature"] == flow.estimate_temperature, "psnr_of_mean"]
        fitted.append((float(estimate.iloc[0]), flow, grid.assign(residual=residual)))
    best = max(range(len(fitted)), key=lambda i: (fitted[i][0], -i))
    grids = [grid.assign(kept=i == best) for i, (_, _, grid) in enumerate(fitted)]
    return fitted[best][1], pd.concat(grids, ignore_index=True)

"""The ``conditional-pixelcnn`` arm: an autoregressive model of low-resolution, quantized chroma
given the gray image, ``p(codes | gray)``, in the manner of PixColor (Guadarrama et al. 2017).

- **Palette.** The training images' chroma, average-pooled ``factor`` times per side, is
  clustered by k-means into ``codes`` colours; every cell of the coarse grid is named by its
  nearest colour. Only training images fit the palette.
- **Model.** A gated PixelCNN over the code grid reads the full-size gray image through a CNN
  (:class:`~genmodels.pixelcnn.image_conditioned.ImageConditionedPixelCNN`) and is trained by
  cross-entropy, so its conditional distributions are a proper forecast of the colours.
  A categorical over a palette can hold several distinct colourings at once (a car red or
  blue), where a flow's Gaussian latent tends to blend them.
- **Back to full size.** A drawn code grid is looked up in the palette, upsampled bilinearly
  under the gray image, refined by a CNN that reads the gray image and the coarse colours
  (:mod:`tasks.colorize.refiner`, PixColor's second stage; ``refiner.enabled: false`` skips
  it), and given the spread that remains (Gaussian, one standard deviation per chroma channel,
  measured on the training images), so the draws are continuous like the truth; every draw
  then goes through
  :func:`~tasks.colorize.color.compose` and reproduces the gray input exactly.
- **Temperature.** The logits are divided by it and the within-code spread multiplied by it
  (0: the most probable code at every step, no spread). Calibrated on validation images as the
  conditional flow's are (:func:`~tasks.colorize.amortized.calibrate_temperature`).

Its density is over codes, not chroma, so it reports no bits/dim of the true chroma.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import pandas as pd
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from pydantic import Field
from sklearn.cluster import KMeans
from torch import Tensor, nn

from genmodels.pixelcnn.image_conditioned import ImageConditionedPixelCNN
from tasks.colorize.amortized import CalibrationSpec, calibrate_temperature
from tasks.colorize.color import luma, to_chroma
from tasks.colorize.files import saved_kind
from tasks.colorize.fitting import fit_on_colour_images
from tasks.colorize.refiner import ChromaRefiner, RefinerSpec, fit_refiner

#: chroma cells the palette's k-means sees at most (a seeded subsample beyond)
_PALETTE_POINTS = 100_000


class PixelCNNSpec(CalibrationSpec):
    """The ``conditional-pixelcnn`` arm: palette, network, training; temperatures as
    :class:`~tasks.colorize.amortized.CalibrationSpec` sets them."""

    codes: int = Field(32, ge=2)  # colours in the palette
    factor: int = Field(8, ge=1)  # the code grid is this many times coarser per side
    hidden: int = Field(64, ge=1)
    num_blocks: int = Field(4, ge=0)
    context_channels: int = Field(32, ge=1)
    max_epochs: int = Field(20, ge=1)
    batch_size: int = Field(64, ge=1)
    patience: int = Field(4, ge=0)
    lr: float = Field(1e-3, gt=0)
    refiner: RefinerSpec = Field(default_factory=RefinerSpec)


def check_pixelcnn_size(config: PixelCNNSpec, size: tuple[int, int]) -> None:
    """Raise ValueError unless images of ``size`` (H, W) tile into the code grid."""
    if size[0] % config.factor or size[1] % config.factor:
        raise ValueError(
            f"the conditional-pixelcnn arm pools chroma by {config.factor} per side and needs "
            f"image sides divisible by it; the images are {size[0]}x{size[1]} (set "
            f"task.pixelcnn.factor to a divisor of both)"
        )


def coarse_chroma(rgb: Tensor, factor: int) -> Tensor:
    """Chroma ``(B, 2, H / factor, W / factor)``: each cell the mean of its pixels'."""
    chroma = to_chroma(rgb)
    return F.avg_pool2d(chroma, factor) if factor > 1 else chroma


def fit_palette(train_rgb: Tensor, config: PixelCNNSpec, seed: int) -> Tensor:
    """``(codes, 2)``: k-means centres of the training images' coarse chroma cells."""
    cells = coarse_chroma(train_rgb, config.factor).permute(0, 2, 3, 1).reshape(-1, 2)
    if len(cells) > _PALETTE_POINTS:
        pick = torch.randperm(len(cells), generator=torch.Generator().manual_seed(seed))
        cells = cells[pick[:_PALETTE_POINTS]]
    if len(cells) < config.codes:
        raise ValueError(
            f"a palette of {config.codes} colours needs at least that many chroma cells; the "
            f"training images give {len(cells)} (lower task.pixelcnn.codes)"
        )
    kmeans = KMeans(config.codes, n_init=2, random_state=seed).fit(cells.double().numpy())
    return torch.as_tensor(kmeans.cluster_centers_, dtype=torch.float32)


def nearest_codes(chroma: Tensor, palette: Tensor) -> Tensor:
    """``(B, 2, h, w)`` chroma -> ``(B, h, w)``: the index of each cell's nearest colour."""
    cells = chroma.permute(0, 2, 3, 1)
    return torch.cdist(cells.reshape(-1, 2), palette).argmin(1).view(cells.shape[:3])


def palette_codes(rgb: Tensor, palette: Tensor, factor: int) -> Tensor:
    """The code grid ``(B, h, w)`` of colour images: their coarse chroma's nearest colours."""
    return nearest_codes(coarse_chroma(rgb, factor), palette)


def upsampled(coarse: Tensor, factor: int) -> Tensor:
    """Cell colours ``(B, 2, h, w)`` at full size ``(B, 2, h * factor, w * factor)``, bilinear
    between cell centres."""
    if factor == 1:
        return coarse
    return F.interpolate(coarse, scale_factor=factor, mode="bilinear", align_corners=False)


def upsampled_colours(codes: Tensor, palette: Tensor, factor: int) -> Tensor:
    """A code grid's colours at full size ``(B, 2, H, W)``."""
    return upsampled(palette[codes].permute(0, 3, 1, 2), factor)


class CoarseColours(nn.Module):
    """Colour images ``(B, 3, H, W)`` -> their own code grid's colours at full size
    ``(B, 2, H, W)``: what the refiner is trained to refine."""

    palette: Tensor

    def __init__(self, palette: Tensor, factor: int) -> None:
        super().__init__()
        self.register_buffer("palette", palette.clone())
        self.factor = factor

    def forward(self, rgb: Tensor) -> Tensor:
        codes = palette_codes(rgb, self.palette, self.factor)
        return upsampled_colours(codes, self.palette, self.factor)


class ChromaPixelCNNModule(pl.LightningModule):
    """Trains :class:`ImageConditionedPixelCNN` on the palette codes of colour images; the loss
    is the negative log-likelihood in bits per code. ``refiner`` (a trained one, or a fresh one
    when None and the config enables it) turns drawn colours into full-size chroma; it is not
    trained here."""

    palette: Tensor
    spread: Tensor
    terms_are_draws = False  # its estimate terms are Rao-Blackwellized (estimate_chroma)

    def __init__(
        self,
        config: PixelCNNSpec,
        palette: Tensor,
        spread: Tensor,
        refiner: ChromaRefiner | None = None,
    ) -> None:
        super().__init__()
        if palette.shape != (config.codes, 2) or spread.shape != (2,):
            raise ValueError(
                f"need a palette ({config.codes}, 2) and a spread (2,), got "
                f"{tuple(palette.shape)} and {tuple(spread.shape)}"
            )
        self.config = config
        self.temperature = 1.0 if config.temperature == "calibrate" else float(config.temperature)
        self.estimate_temperature = self.temperature
        self.register_buffer("palette", palette.clone())
        self.register_buffer("spread", spread.clone())
        self.net = ImageConditionedPixelCNN(
            config.codes,
            condition_channels=1,
            factor=config.factor,
            hidden=config.hidden,
            num_blocks=config.num_blocks,
            context_channels=config.context_channels,
        )
        if refiner is None and config.refiner.enabled:
            refiner = ChromaRefiner(config.refiner.width)
        self.refiner = refiner if config.refiner.enabled else None

    def bits_per_code(self, rgb: Tensor) -> Tensor:
        """``-log2 p(codes | gray)`` per code ``(B,)``."""
        codes = palette_codes(rgb, self.palette, self.config.factor)
        nats = -self.net.log_prob(codes, 2 * luma(rgb) - 1) / codes[0].numel()
        return nats / math.log(2)

    @torch.no_grad()
    def sample_chroma(
        self, gray: Tensor, temperature: float, generator: torch.Generator | None = None
    ) -> Tensor:
        """One chroma draw ``(B, 2, H, W)`` per gray image ``(B, 1, H, W)``."""
        codes = self.net.sample(2 * gray - 1, temperature, generator)
        chroma = upsampled_colours(codes, self.palette, self.config.factor)
        if self.refiner is not None:
            chroma = self.refiner(gray, chroma)
        noise = torch.randn(chroma.shape, generator=generator, dtype=chroma.dtype)
        return chroma + temperature * self.spread[:, None, None] * noise.to(chroma.device)

    @torch.no_grad()
    def estimate_chroma(
        self, gray: Tensor, temperature: float, generator: torch.Generator | None = None
    ) -> Tensor:
        """One draw's share of the posterior mean ``(B, 2, H, W)``: a code grid drawn at
        ``temperature``, each cell's colour replaced by its expectation under the categorical
        it was drawn from (given the cells drawn before it), then upsampled and refined; no
        spread, whose mean is zero. The mean of these is the mean of the draws', with less
        variance (Rao-Blackwell)."""
        condition = 2 * gray - 1
        codes = self.net.sample(condition, temperature, generator)
        if temperature <= 0:
            cells = self.palette[codes].permute(0, 3, 1, 2)
        else:
            probs = F.softmax(self.net(codes, condition) / temperature, dim=1)
            cells = torch.einsum("bkhw,kc->bchw", probs, self.palette)
        chroma = upsampled(cells, self.config.factor)
        return chroma if self.refiner is None else self.refiner(gray, chroma)

    def training_step(self, batch: tuple[Tensor], batch_idx: int) -> Tensor:
        loss = self.bits_per_code(batch[0]).mean()
        self.log("train_bpc", loss, on_step=False, on_epoch=True, batch_size=len(batch[0]))
        return loss

    def validation_step(self, batch: tuple[Tensor], batch_idx: int) -> None:
        loss = self.bits_per_code(batch[0]).mean()
        self.log("val_bpc", loss, on_step=False, on_epoch=True, batch_size=len(batch[0]))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.net.parameters(), lr=self.config.lr)


@torch.no_grad()
def within_code_spread(
    train_rgb: Tensor, config: PixelCNNSpec, palette: Tensor, refiner: ChromaRefiner | None = None
) -> Tensor:
    """``(2,)``: per chroma channel, the standard deviation of the training images' chroma
    around their own code grid's upsampled colours, refined by ``refiner`` where given (what
    pooling and quantization remove and the refiner does not restore)."""
    coarse = CoarseColours(palette, config.factor)
    parts = []
    for i in range(0, len(train_rgb), 512):
        rgb = train_rgb[i : i + 512]
        chroma = coarse(rgb)
        if refiner is not None:
            chroma = refiner(luma(rgb), chroma)
        parts.append(to_chroma(rgb) - chroma)
    residual = torch.cat(parts)
    return residual.transpose(0, 1).reshape(2, -1).std(1)


def fit_chroma_pixelcnn(
    train_rgb: Tensor,
    val_rgb: Tensor,
    config: PixelCNNSpec,
    seed: int,
    accelerator: str = "cpu",
) -> tuple[ChromaPixelCNNModule, pd.DataFrame | None]:
    """Fit the palette, the refiner (where enabled) and the spread on ``train_rgb``, train the
    PixelCNN (for both, the epoch with the lowest validation loss kept) and calibrate its
    temperatures on ``val_rgb`` (``temperature: calibrate``). Returns the module and its
    calibration grid (None at a fixed temperature)."""
    check_pixelcnn_size(config, (train_rgb.shape[2], train_rgb.shape[3]))
    palette = fit_palette(train_rgb, config, seed)
    refiner = None
    if config.refiner.enabled:
        coarse = CoarseColours(palette, config.factor)
        refiner = fit_refiner(train_rgb, val_rgb, config.refiner, coarse, seed, accelerator)
    spread = within_code_spread(train_rgb, config, palette, refiner)
    module = fit_on_colour_images(
        lambda: ChromaPixelCNNModule(config, palette, spread, refiner),  # carried, not trained
        train_rgb,
        val_rgb,
        "val_bpc",
        config.batch_size,
        config.max_epochs,
        config.patience,
        seed,
        accelerator,
    ).eval()
    if config.temperature != "calibrate":
        return module, None
    grid = calibrate_temperature(module, val_rgb, torch.Generator().manual_seed(seed))
    return module, grid


_FILE_KIND = "priorworks-chroma-pixelcnn"
#: where a colorize run keeps its conditional PixelCNN among its artifacts
PIXELCNN_ARTIFACT = "conditional/chroma_pixelcnn.pt"


def pixelcnn_bytes(module: ChromaPixelCNNModule) -> bytes:
    """The trained PixelCNN as a file's bytes: settings, palette, spread, temperatures, weights
    (read back by :func:`read_pixelcnn`)."""
    buffer = io.BytesIO()
    contents = {
        "kind": _FILE_KIND,
        "config": module.config.model_dump(mode="json"),
        "temperature": module.temperature,
        "estimate_temperature": module.estimate_temperature,
        "state_dict": module.state_dict(),
    }
    torch.save(contents, buffer)
    return buffer.getvalue()


def is_pixelcnn_file(path: str | Path) -> bool:
    """Whether ``path`` holds a conditional PixelCNN (False for anything else, readable or not)."""
    return saved_kind(path) == _FILE_KIND


def read_pixelcnn(path: str | Path, temperature: float | None = None) -> ChromaPixelCNNModule:
    """A conditional PixelCNN file as it was trained, drawing at ``temperature`` for samples and
    estimate alike (None: the temperatures it records); ValueError naming the file if it is not
    one."""
    try:
        saved = torch.load(Path(path), map_location="cpu", weights_only=True)
    except Exception as err:  # any unreadable file: say which and why
        raise ValueError(f"conditional PixelCNN '{path}' cannot be read: {err}") from err
    if not isinstance(saved, dict) or saved.get("kind") != _FILE_KIND:
        raise ValueError(f"'{path}' is not a conditional-PixelCNN file")
    config = PixelCNNSpec(**saved["config"])
    state = saved["state_dict"]
    module = ChromaPixelCNNModule(config, state["palette"], state["spread"])
    module.load_state_dict(state)
    module.temperature = float(saved["temperature"] if temperature is None else temperature)
    estimate = saved["estimate_temperature"] if temperature is None else temperature
    module.estimate_temperature = float(estimate)
    return module.eval()

"""Colorize a user's own images: ``priorworks colorize --model URI --input PATH --out DIR``.

The model is a colorize run (``runs:/<run>`` or a bare run id): its stacked colorizer
(``conditional/stacked.pt``: a posterior and the regressor, averaged with the weight its run
chose on validation) where the run stacked, else its conditional flow
(``conditional/chroma_flow.pt``), else its conditional PixelCNN
(``conditional/chroma_pixelcnn.pt``). Name an artifact to get another:
``runs:/<run>/<artifact>``. Any of these files on disk works too (a flow from
``benchmarks/train_model_file.py --model colorize-conditional``).

Every image (a file, or a folder searched recursively) is read, reduced to its luma if it has
colour, and colorized at its own size (:func:`tasks.colorize.photos.colorize_photo`). Written
per image, under the image's path relative to the input: ``<name>.png`` (the estimate),
``<name>_sample<i>.png`` (single draws) and ``<name>_uncertainty.png`` (the per-pixel spread
of the draws, 0-255 for a standard deviation of 0-0.25); and ``colorized.csv`` with a row per
image (sizes, seconds, mean uncertainty, and for colour inputs the PSNR of the estimate, of its
best draw and of the gray image itself against the input's colours). The folder is filled under
a temporary name and moved into place at the end: a failed run leaves nothing behind.
"""

from __future__ import annotations

import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from mlflow.tracking import MlflowClient
from PIL import Image

import mlflow
from genmodels.data.folder import IMAGE_SUFFIXES, read_image
from genmodels.data.imageset import to_unit_float
from genmodels.errors import DataError
from pipelines.tracking.scoring import ModelURIError
from pipelines.tracking.staged_folder import StagedFolder
from pipelines.tracking.store import use_store
from tasks.colorize.chroma_flow import CONDITIONAL_ARTIFACT, read_conditional
from tasks.colorize.chroma_pixelcnn import PIXELCNN_ARTIFACT, is_pixelcnn_file, read_pixelcnn
from tasks.colorize.color import luma
from tasks.colorize.metrics import psnr
from tasks.colorize.photos import Colorizer, colorize_photo
from tasks.colorize.stacking import (
    STACKED_ARTIFACT,
    StackedColorizer,
    is_stacked_file,
    read_stacked,
)

#: a standard deviation of this (in [0, 1] RGB units) is white in the uncertainty map
UNCERTAINTY_FULL_SCALE = 0.25


def _read_colorizer(path: Path, temperature: float | None) -> Colorizer | StackedColorizer:
    """A stacked-colorizer or conditional-PixelCNN file if ``path`` is one, else a
    conditional-flow file."""
    try:
        if is_stacked_file(path):
            return read_stacked(path, temperature)
        if is_pixelcnn_file(path):
            return read_pixelcnn(path, temperature)
        return read_conditional(path, temperature)
    except ValueError as err:
        raise ModelURIError(str(err)) from None


def load_colorizer(uri: str, temperature: float | None = None) -> Colorizer | StackedColorizer:
    """The conditional flow, PixelCNN or stacked colorizer at ``uri`` (a file, a run id or a
    ``runs:/`` URI: the artifact the URI names, else the first of :data:`RUN_DEFAULTS` the run
    logged), drawing at ``temperature`` (None: the temperatures recorded with it,
    calibrated where its run did)."""
    if Path(uri).expanduser().is_file():
        return _read_colorizer(Path(uri).expanduser(), temperature)
    if re.fullmatch(r"[0-9a-f]{32}", uri):
        uri = f"runs:/{uri}"
    match = re.fullmatch(r"runs:/([0-9a-f]{32})/?(.*)", uri)
    if match is None:
        raise ModelURIError(
            f"'{uri}' is neither a conditional-flow file nor a colorize run (runs:/<run id> or "
            "a run id)"
        )
    use_store(existing=True)
    artifact = match.group(2) or _run_default(match.group(1))
    with tempfile.TemporaryDirectory() as tmp:
        try:
            local = mlflow.artifacts.download_artifacts(
                artifact_uri=f"runs:/{match.group(1)}/{artifact}", dst_path=tmp
            )
        except Exception as err:  # MLflow raises several types for unknown runs and paths
            raise ModelURIError(
                f"cannot load '{artifact}' of run {match.group(1)} from the store "
                f"{mlflow.get_tracking_uri()} (a colorize run with the conditional arm has it): "
                f"{err}"
            ) from None
        return _read_colorizer(Path(local), temperature)


#: what a bare run id delivers, first logged first: the stacked colorizer (its weight was chosen
#: on validation over a grid that includes its posterior alone), the flow, the PixelCNN
RUN_DEFAULTS = (STACKED_ARTIFACT, CONDITIONAL_ARTIFACT, PIXELCNN_ARTIFACT)


def _run_default(run_id: str) -> str:
    """The first of :data:`RUN_DEFAULTS` the run logged (the flow where it logged none: the
    download then names what is missing)."""
    try:
        logged = {a.path for a in MlflowClient().list_artifacts(run_id, "conditional")}
    except Exception:  # an unknown run: the download names the problem
        return CONDITIONAL_ARTIFACT
    return next((a for a in RUN_DEFAULTS if a in logged), CONDITIONAL_ARTIFACT)


def _image_files(inputs: Path) -> list[Path]:
    if inputs.is_file():
        return [inputs]
    if not inputs.is_dir():
        raise DataError(f"{inputs}: no such file or folder")
    files = sorted(
        p for p in inputs.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
    )
    if not files:
        raise DataError(f"{inputs}: no images ({', '.join(IMAGE_SUFFIXES)}) in this folder")
    return files


def _as_unit(arr: np.ndarray, path: Path) -> torch.Tensor:
    """An image file's array -> ``(C, H, W)`` floats in ``[0, 1]``."""
    x = torch.from_numpy(to_unit_float(arr, str(path))[0])
    return x.unsqueeze(0) if x.ndim == 2 else x.permute(2, 0, 1)


def _png(rgb: torch.Tensor, path: Path) -> None:
    pixels = (rgb.clamp(0, 1) * 255).round().to(torch.uint8)
    array = pixels.permute(1, 2, 0).numpy() if pixels.ndim == 3 else pixels.numpy()
    Image.fromarray(array).save(path)


@dataclass(frozen=True)
class ColorizeSummary:
    images: int
    out: Path
    table: pd.DataFrame


def colorize_path(
    uri: str,
    inputs: str | Path,
    out: str | Path,
    samples: int = 4,
    mean_samples: int = 16,
    chroma_side: int | None = 64,
    temperature: float | None = None,
    seed: int = 0,
) -> ColorizeSummary:
    """Colorize every image at ``inputs`` into the new folder ``out`` (see the module)."""
    if samples < 0 or mean_samples < 1:
        raise DataError(
            f"need --samples >= 0 and --mean-samples >= 1, got {samples}, {mean_samples}"
        )
    if chroma_side is not None and chroma_side < 2:
        raise DataError(
            f"--chroma-side must be at least 2 (or 0: the image's own size), got {chroma_side}"
        )
    if temperature is not None and temperature < 0:
        raise DataError(f"--temperature must be >= 0, got {temperature}")
    inputs = Path(inputs)
    files = _image_files(inputs)
    module = load_colorizer(uri, temperature)
    staged = StagedFolder(out, "--out")
    rows = []
    try:
        for path in files:
            image = _as_unit(read_image(path), path)
            gray = luma(image.unsqueeze(0))[0] if image.shape[0] == 3 else image
            t0 = time.perf_counter()
            coloring = colorize_photo(
                module,
                gray,
                samples,
                mean_samples,
                chroma_side,
                torch.Generator().manual_seed(seed),
            )
            seconds = time.perf_counter() - t0
            relative = path.relative_to(inputs) if inputs.is_dir() else Path(path.name)
            target = staged.tmp / relative.parent
            target.mkdir(parents=True, exist_ok=True)
            stem = relative.stem
            _png(coloring.estimate, target / f"{stem}.png")
            for i, draw in enumerate(coloring.samples, 1):
                _png(draw, target / f"{stem}_sample{i}.png")
            _png(coloring.uncertainty / UNCERTAINTY_FULL_SCALE, target / f"{stem}_uncertainty.png")
            row = {
                "file": str(relative),
                "height": gray.shape[1],
                "width": gray.shape[2],
                "work_height": coloring.work_size[0],
                "work_width": coloring.work_size[1],
                "seconds": seconds,
                "uncertainty_mean": float(coloring.uncertainty.mean()),
            }
            if image.shape[0] == 3:  # the input had colour: measure against it
                truth = image.unsqueeze(0)
                row["psnr"] = float(psnr(coloring.estimate.unsqueeze(0), truth)[0])
                row["psnr_gray"] = float(psnr(gray.expand(3, -1, -1).unsqueeze(0), truth)[0])
                if len(coloring.samples):
                    row["best_of_k_psnr"] = float(
                        psnr(coloring.samples, truth.expand_as(coloring.samples)).max()
                    )
            rows.append(row)
        table = pd.DataFrame(rows)
        table.to_csv(staged.tmp / "colorized.csv", index=False)
        folder = staged.commit()
    finally:
        staged.abandon()
    return ColorizeSummary(len(rows), folder, table)

"""Score new files with a logged anomaly model: ``priorworks score --model URI --input PATH``.

The model URI is anything MLflow resolves (``runs:/<run>/model``, ``models:/<name>@champion``,
``models:/m-...``) or a bare run id. The inputs are fitted to the model's image shape and levels
(:func:`genmodels.data.inputs.iter_inputs`) and scored chunk by chunk by the logged model itself,
so the threshold calibrated at training time decides the flags and memory stays flat. The CSV is
written to a temporary file and renamed at the end: a failed run leaves no half-written result.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
from genmodels.data.inputs import iter_inputs
from genmodels.errors import CapabilityError, DataError, PriorworksError
from pipelines.tracking.map_files import MapWriter
from pipelines.tracking.model_export import RUNTIMES
from pipelines.tracking.store import use_store
from tasks.anomaly.detector import Detector
from tasks.anomaly.maps import delivered_maps, map_kind


class ModelURIError(PriorworksError):
    """The model URI does not resolve to a logged priorworks anomaly model."""


def _resolve(uri: str) -> str:
    if re.fullmatch(r"[0-9a-f]{32}", uri):  # a bare run id
        return f"runs:/{uri}/model"
    return uri


def load_scoring_model(
    uri: str, runtime: str = "torch", copy_to: Path | None = None
) -> tuple[Any, Detector]:
    """The logged pyfunc model and the detector inside it (which knows the image shape).

    The URI resolves against the same tracking store as ``priorworks run`` (``MLFLOW_TRACKING_URI``
    or ``mlflow/mlflow.db``), whatever MLflow's process-wide default was. ``runtime``: ``torch``
    or ``onnx`` (the detector's ONNX export, through ONNX Runtime), as the pyfunc's predict uses.
    ``copy_to``: a new folder (its parent exists) that receives a copy of the model's files first,
    to ship them elsewhere; the model is then loaded from the copy.
    """
    if runtime not in RUNTIMES:
        raise DataError(f"--runtime must be one of {', '.join(RUNTIMES)}, got '{runtime}'")
    resolved = _resolve(uri)
    use_store(existing=resolved.startswith(("runs:/", "models:/")))
    try:
        if copy_to is not None:
            into = tempfile.mkdtemp(dir=copy_to.parent, prefix=".download-")
            Path(mlflow.artifacts.download_artifacts(resolved, dst_path=into)).rename(copy_to)
            resolved = str(copy_to)
        loaded = mlflow.pyfunc.load_model(resolved, model_config={"runtime": runtime})
    except Exception as err:  # MLflow raises several types for unknown runs, names, aliases
        raise ModelURIError(
            f"cannot load model '{uri}' from the store {mlflow.get_registry_uri()}: {err}"
        ) from None
    return loaded, checked_scorer(loaded, uri, runtime)


def checked_scorer(loaded: Any, uri: str, runtime: str) -> Detector:
    """The detector inside a loaded pyfunc model; refused when it is not a priorworks anomaly
    model, or has no ONNX export and ``runtime`` asks for one."""
    scorer = loaded.unwrap_python_model()
    if not isinstance(getattr(scorer, "detector", None), Detector):
        raise ModelURIError(f"'{uri}' is not a priorworks anomaly model")
    if runtime == "onnx" and getattr(scorer, "onnx", None) is None:  # logged before ONNX export
        raise DataError(
            f"'{uri}' has no ONNX export (logged before priorworks exported detectors); "
            "score it with --runtime torch"
        )
    return scorer.detector


@dataclass(frozen=True)
class ScoreSummary:
    images: int
    flagged: int
    out: Path
    threshold: float
    promised_fpr: float  # on normal images like the calibration ones
    recalibrated: bool  # the threshold was moved from the one set at training
    failed: int = 0  # rows that could not be scored (Spark engine; the local engine stops)
    errors: Path | None = None  # the CSV naming them and why


def recalibrate(
    loaded: Any, detector: Detector, target_fpr: float | None, threshold: float | None
) -> Detector:
    """Move the logged model's threshold (``target_fpr`` or ``threshold``), or keep it."""
    if target_fpr is None and threshold is None:
        return detector
    try:
        # the pyfunc's own scorer moves, since its predict is what scores
        return loaded.unwrap_python_model().recalibrate(target_fpr, threshold)
    except ValueError as err:
        raise DataError(f"cannot recalibrate the threshold: {err}") from None


def _check_maps(detector: Detector) -> None:
    """A DataError before anything is written when the detector cannot draw maps."""
    try:
        map_kind(detector)
    except CapabilityError as err:
        raise DataError(f"--maps: {err}") from None


def checked_out_path(out: Path) -> Path:
    """``out`` when it can name the CSV to write; a DataError saying why not otherwise."""
    if out.is_dir():
        raise DataError(f"{out}: is a folder; --out names the CSV file to write")
    if out.parent and not out.parent.exists():
        raise DataError(f"{out.parent}: output folder does not exist")
    return out


def score_path(
    uri: str,
    inputs: str | Path,
    out: str | Path,
    batch_size: int = 256,
    target_fpr: float | None = None,
    threshold: float | None = None,
    maps: str | Path | None = None,
    runtime: str = "torch",
) -> ScoreSummary:
    """Score every image at ``inputs`` and write ``out`` (CSV: file, score, p_value, flagged).

    The inputs stream through in chunks of ``batch_size`` (read, scored, appended to the CSV), so
    memory does not grow with their number. ``target_fpr`` or ``threshold`` moves the flagging
    threshold, recalibrated on the normal validation scores stored in the logged model; by
    default the threshold calibrated at training decides. ``maps``: a new folder for one anomaly
    map per input (:mod:`pipelines.tracking.map_files`). ``runtime``: ``torch`` (default) or
    ``onnx``, the logged ONNX export through ONNX Runtime (maps always come from torch).
    """
    if batch_size < 1:
        raise DataError(f"--batch-size must be at least 1, got {batch_size}")
    loaded, detector = load_scoring_model(uri, runtime)
    detector = recalibrate(loaded, detector, target_fpr, threshold)
    out = checked_out_path(Path(out))
    if maps is not None and Path(maps).resolve() == out.resolve():
        raise DataError(f"{out}: --out and --maps name the same path; give each its own")
    if maps is not None:
        _check_maps(detector)
    writer = MapWriter(maps, inputs) if maps is not None else None
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    images = flagged = 0
    try:
        with os.fdopen(fd, "w", newline="") as fh:
            for chunk in iter_inputs(inputs, detector.image_shape, detector.levels, batch_size):
                frame = loaded.predict(chunk.images.numpy())
                frame.insert(0, "file", list(chunk.ids))
                frame.to_csv(fh, header=images == 0, index=False)
                images += len(frame)
                flagged += int(frame["flagged"].sum())
                if writer is not None:
                    writer.add(chunk.ids, delivered_maps(detector, chunk.images))
        if writer is not None:
            writer.finish()
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if writer is not None:
            writer.abandon()
    return ScoreSummary(
        images,
        flagged,
        out,
        detector.threshold.threshold,
        detector.threshold.promised_fpr(),
        target_fpr is not None or threshold is not None,
    )

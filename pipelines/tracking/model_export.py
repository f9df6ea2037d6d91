"""A trained anomaly :class:`~tasks.anomaly.detector.Detector` as an MLflow pyfunc model that
scores images with its own threshold.

The logged model carries the detector's files (the zoo model, the background model when the score
uses one, and the calibration JSON: score and its fitted state, layout density, calibration
scores, target false-positive rate), so ``mlflow.pyfunc.load_model(uri).predict(images)`` returns
the same scores, p-values and flags as the pipeline that trained it.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, Schema, TensorSpec

import mlflow
from genmodels.errors import CapabilityError
from pipelines.ops.allocator import keep_freed_memory
from tasks.anomaly.detector import Detector
from tasks.anomaly.onnx_runtime import OnnxDetector, export_onnx

_REQUIREMENTS = (
    "torch", "pytorch-lightning", "mlflow", "numpy", "pandas", "scikit-learn",
    "onnx", "onnxruntime",
)  # fmt: skip


ONNX = "onnx"  # the artifact role of the detector's ONNX export
RUNTIMES = ("torch", "onnx")


class _Scorer:
    """Input ``(N, C, H, W)`` float32 in [0, 1]; output columns score, p_value, flagged.

    ``model_config={"runtime": "onnx"}`` at load time scores with the ONNX export through ONNX
    Runtime instead of eager torch (same scores to :data:`tasks.anomaly.onnx_runtime.PARITY`).
    """

    detector: Detector
    onnx: OnnxDetector | None = None

    def load_context(self, context: Any) -> None:
        keep_freed_memory(os.environ)  # a serving process scores batch after batch
        self.detector = Detector.load(context.artifacts)
        runtime = (context.model_config or {}).get("runtime", "torch")
        if runtime not in RUNTIMES:
            raise MlflowException.invalid_parameter_value(
                f"unknown runtime '{runtime}'; choose one of {', '.join(RUNTIMES)}"
            )
        self.onnx = None
        if runtime == "onnx":
            if ONNX not in context.artifacts:
                raise MlflowException.invalid_parameter_value(
                    "this model was logged without an ONNX export (see the run's `onnx` tag for"
                    " why); score it with the torch runtime"
                )
            self.onnx = OnnxDetector.load(context.artifacts[ONNX])

    def recalibrate(self, target_fpr: float | None, threshold: float | None) -> Detector:
        """Move the threshold of whichever runtime scores (both, when ONNX is loaded)."""
        self.detector = self.detector.recalibrated(target_fpr, threshold)
        if self.onnx is not None:
            self.onnx = self.onnx.recalibrated(target_fpr, threshold)
        return self.detector

    # No type hints on purpose: MLflow would try (and fail) to derive a schema from them.
    def predict(self, context, model_input, params=None):
        import torch

        try:
            x = torch.as_tensor(checked_images(model_input))
        except ValueError as err:
            # an MlflowException reaches REST clients of `mlflow models serve` as a 400 with
            # this message; any other exception becomes a generic "unexpected error"
            raise MlflowException.invalid_parameter_value(str(err)) from err
        return (self.detector if self.onnx is None else self.onnx).predict(x)


def checked_images(model_input: Any) -> np.ndarray:
    """``model_input`` as float32, refused when a value is not finite or outside [0, 1].

    Scores of such images would mean nothing (a NaN image would even pass as not flagged), so the
    error names how many images are affected, the first of them and the range found.
    """
    x = np.asarray(model_input, dtype=np.float32)
    per_image = x.reshape(len(x), -1) if x.ndim > 1 else x.reshape(1, -1)
    bad_value = ~np.isfinite(per_image).all(axis=1)
    if bad_value.any():
        rows = np.flatnonzero(bad_value)
        raise ValueError(
            f"{len(rows)} of {len(per_image)} images hold NaN or infinite values "
            f"(first at rows {rows[:5].tolist()}); images must be finite, in [0, 1]"
        )
    outside = (per_image < 0).any(axis=1) | (per_image > 1).any(axis=1)
    if outside.any():
        rows = np.flatnonzero(outside)
        raise ValueError(
            f"{len(rows)} of {len(per_image)} images have values outside [0, 1] (range found "
            f"{per_image.min():.4g} to {per_image.max():.4g}; first at rows {rows[:5].tolist()}):"
            " scale intensities to [0, 1] before scoring (the `score` command does this)"
        )
    return x


with warnings.catch_warnings():
    # MLflow warns at class creation that `predict` has no type hints; the explicit signature
    # given at logging time is what describes the input.
    warnings.simplefilter("ignore")

    class AnomalyScoringModel(_Scorer, mlflow.pyfunc.PythonModel):  # type: ignore[name-defined]
        __doc__ = _Scorer.__doc__


def _signature(image_shape: tuple[int, int, int]) -> ModelSignature:
    return ModelSignature(
        inputs=Schema([TensorSpec(np.dtype(np.float32), (-1, *image_shape))]),
        outputs=Schema(
            [
                ColSpec("double", "score"),
                ColSpec("double", "p_value"),
                ColSpec("boolean", "flagged"),
            ]
        ),
    )


def log_detector(detector: Detector, onnx: bool = True) -> str:
    """Log ``detector`` under the active run as ``model``; return its model URI.

    ``onnx``: also carry the detector's ONNX export (checked for parity when written). A model
    that does not export is logged without it; the run's ``onnx`` tag says which happened.
    """
    with tempfile.TemporaryDirectory() as tmp:
        artifacts = detector.save(tmp)
        if onnx:
            try:
                artifacts[ONNX] = str(export_onnx(detector, Path(tmp) / "detector.onnx"))
                mlflow.set_tag("onnx", "exported")
            except CapabilityError as err:
                mlflow.set_tag("onnx", f"refused: {err}")
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=AnomalyScoringModel(),
            artifacts=artifacts,
            signature=_signature(detector.image_shape),
            # declared so that a load may override it (MLflow ignores undeclared keys)
            model_config={"runtime": "torch"},
            # a mid-gray image, not a real one: the example is stored with the model
            input_example=np.full((1, *detector.image_shape), 0.5, dtype=np.float32),
            pip_requirements=[f"{p}=={version(p)}" for p in _REQUIREMENTS],
        )
    return str(info.model_uri)

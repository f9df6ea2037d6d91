"""Score new files with a logged anomaly model: ``priorworks score --model URI --input PATH``.

The model URI is anything MLflow resolves (``runs:/<run>/model``, ``models:/<name>@champion``,
``models:/m-...``) or a bare run id. The inputs are fitted to the model's image shape and levels
(:func:`genmodels.data.inputs.load_inputs`) and scored in batches by the logged model itself, so
the threshold calibrated at training time decides the flags. The CSV is written to a temporary
file and renamed at the end: a failed run leaves no half-written result.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import mlflow
from genmodels.data.inputs import load_inputs
from genmodels.errors import DataError, PriorworksError
from pipelines.tracking import tracking_uri


class ModelURIError(PriorworksError):
    """The model URI does not resolve to a logged priorworks anomaly model."""


def _resolve(uri: str) -> str:
    if re.fullmatch(r"[0-9a-f]{32}", uri):  # a bare run id
        return f"runs:/{uri}/model"
    return uri


def load_scoring_model(uri: str) -> tuple[Any, Any]:
    """The logged pyfunc model and its python object (which knows the image shape).

    The URI resolves against the same tracking store as ``priorworks run`` (``MLFLOW_TRACKING_URI``
    or ``mlflow/mlflow.db``), whatever MLflow's process-wide default was.
    """
    uri_store = tracking_uri()
    mlflow.set_tracking_uri(uri_store)
    mlflow.set_registry_uri(uri_store)  # models:/ names resolve in the same store
    try:
        loaded = mlflow.pyfunc.load_model(_resolve(uri))
    except Exception as err:  # MLflow raises several types for unknown runs, names, aliases
        raise ModelURIError(
            f"cannot load model '{uri}' from the store {mlflow.get_registry_uri()}: {err}"
        ) from None
    scorer = loaded.unwrap_python_model()
    if not hasattr(scorer, "threshold"):
        raise ModelURIError(f"'{uri}' is not a priorworks anomaly model")
    return loaded, scorer


def score_path(
    uri: str, inputs: str | Path, out: str | Path, batch_size: int = 256
) -> pd.DataFrame:
    """Score every image at ``inputs`` and write ``out`` (CSV: file, score, p_value, flagged)."""
    loaded, scorer = load_scoring_model(uri)
    model = scorer.model
    images = load_inputs(inputs, model.image_shape, model.levels)
    parts = []
    x = images.images.numpy().astype(np.float32)
    for start in range(0, len(x), batch_size):
        parts.append(loaded.predict(x[start : start + batch_size]))
    frame = pd.concat(parts, ignore_index=True)
    ids = images.ids or tuple(str(i) for i in range(len(x)))
    frame.insert(0, "file", list(ids))
    out = Path(out)
    if out.parent and not out.parent.exists():
        raise DataError(f"{out.parent}: output folder does not exist")
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    os.close(fd)
    try:
        frame.to_csv(tmp, index=False)
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return frame

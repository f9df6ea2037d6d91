"""Score rows of file bytes with a logged anomaly model: the body of a distributed scoring job.

A row names one input file (``file``, the id written to the CSV) and holds its bytes
(``content``) or a path to read them from (``path``). :class:`RowScorer` turns an iterator of
such pandas batches into batches of scores, as Spark's ``mapInPandas`` calls it on each
partition; it needs no Spark itself. A row that cannot be read or decoded becomes an error row
(``error`` names the file and the reason) instead of failing its partition; every other row is
decoded with :func:`genmodels.data.encoded.decode_file`, fitted to the model as the
single-process ``score`` fits files, and scored in chunks of ``batch_size`` by the model's own
``predict``, so both engines give the same scores.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import mlflow
from genmodels.data.encoded import decode_file
from genmodels.data.imageset import ImageSet
from genmodels.data.inputs import conform
from genmodels.errors import DataError
from tasks.anomaly.detector import Detector

#: what a scored batch holds; ``order`` and ``part`` (the slice of a volume) sort the rows back
#: into input order, ``error`` is null on rows that were scored
OUTPUT_SCHEMA = (
    "order long, part int, file string, score double, p_value double, flagged boolean, error string"
)
OUTPUT_COLUMNS = ("order", "part", "file", "score", "p_value", "flagged", "error")

_MODELS: dict[tuple[Any, ...], tuple[Any, Detector]] = {}  # one load per worker process


@dataclass(frozen=True)
class RowScorer:
    """Called with an iterator of input batches (columns ``order``, ``file``, and ``content``
    or ``path``); yields one scored batch (:data:`OUTPUT_COLUMNS`) per input batch.

    ``model``: a local MLflow model folder, or with ``shipped`` the name under which the job
    shipped it to its executors (``SparkContext.addFile``). ``threads``: torch threads of the
    worker (0 keeps torch's default), so that parallel workers do not oversubscribe the cores.
    """

    model: str
    runtime: str = "torch"
    target_fpr: float | None = None
    threshold: float | None = None
    batch_size: int = 256
    threads: int = 0
    shipped: bool = False

    def model_dir(self) -> str:
        if not self.shipped:
            return self.model
        from pyspark import SparkFiles

        return SparkFiles.get(self.model)

    def load(self) -> tuple[Any, Detector]:
        """The pyfunc model and its (recalibrated) detector, loaded once per process."""
        from pipelines.tracking.scoring import checked_scorer, recalibrate

        key = (self.model_dir(), self.runtime, self.target_fpr, self.threshold)
        if key not in _MODELS:
            loaded = mlflow.pyfunc.load_model(key[0], model_config={"runtime": self.runtime})
            detector = checked_scorer(loaded, key[0], self.runtime)
            _MODELS[key] = (loaded, recalibrate(loaded, detector, self.target_fpr, self.threshold))
        return _MODELS[key]

    def __call__(self, batches: Iterable[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        if self.threads > 0:
            import torch

            torch.set_num_threads(self.threads)
        loaded, detector = self.load()
        for batch in batches:
            yield self.score_batch(batch, loaded, detector)

    def score_batch(self, batch: pd.DataFrame, loaded: Any, detector: Detector) -> pd.DataFrame:
        good: list[tuple[int, int, str]] = []
        images: list[Any] = []
        failed: list[tuple[int, int, str, str]] = []
        rows: Iterable[Any] = batch.itertuples(index=False)
        for row in rows:
            order, name = int(row.order), str(row.file)
            try:
                fitted = _fitted(row, detector)
            except DataError as err:
                failed.append((order, 0, name, str(err)))
                continue
            except Exception as err:  # a decoder's own error: this row fails, not the job
                failed.append(
                    (order, 0, name, f"{name}: cannot decode ({type(err).__name__}: {err})")
                )
                continue
            good += [(order, part, image_id) for part, image_id in enumerate(fitted.ids)]
            images += list(fitted.images)
        frames = [_error_frame(failed)]
        for start in range(0, len(images), self.batch_size):
            chunk = np.stack([x.numpy() for x in images[start : start + self.batch_size]])
            scored = loaded.predict(chunk)
            keys = good[start : start + self.batch_size]
            frames.append(
                pd.DataFrame(
                    {
                        "order": np.array([k[0] for k in keys], dtype=np.int64),
                        "part": np.array([k[1] for k in keys], dtype=np.int32),
                        "file": [k[2] for k in keys],
                        "score": scored["score"].to_numpy(np.float64),
                        "p_value": scored["p_value"].to_numpy(np.float64),
                        "flagged": scored["flagged"].to_numpy(bool),
                        "error": pd.Series([None] * len(keys), dtype=object),
                    }
                )
            )
        return pd.concat(frames, ignore_index=True)


def _bytes_of(row: Any) -> bytes:
    content = getattr(row, "content", None)  # Arrow gives None for a null cell
    if content is not None:
        return bytes(content)
    path = getattr(row, "path", None)
    if not path:
        raise DataError(f"{row.file}: the row has neither bytes nor a path")
    try:
        return Path(path).read_bytes()
    except OSError as err:
        raise DataError(f"{row.file}: cannot read {path} ({err.strerror or err})") from None


def _fitted(row: Any, detector: Detector) -> ImageSet:
    raw = decode_file(_bytes_of(row), str(row.file), detector.image_shape[1:])
    if not np.isfinite(raw.images.numpy()).all():
        raise DataError(f"{row.file}: the image contains NaN or Inf values")
    return conform(raw, detector.image_shape, detector.levels)


def _error_frame(failed: list[tuple[int, int, str, str]]) -> pd.DataFrame:
    n = len(failed)
    return pd.DataFrame(
        {
            "order": np.array([f[0] for f in failed], dtype=np.int64),
            "part": np.array([f[1] for f in failed], dtype=np.int32),
            "file": pd.Series([f[2] for f in failed], dtype=object),
            "score": np.full(n, np.nan),
            "p_value": np.full(n, np.nan),
            "flagged": np.zeros(n, dtype=bool),
            "error": pd.Series([f[3] for f in failed], dtype=object),
        }
    )

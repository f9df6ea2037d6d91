"""A trained detector as one ONNX file, scored by ONNX Runtime.

The network part of a detector (the model's code length ``-log2 p(x)`` per image, and the
background model's where the score uses one) is traced into an ONNX graph; everything else the
detector applies (the score and its fitted state, the layout density, the compressor, the
conformal threshold with its calibration scores) travels in the file's metadata as the same JSON
a saved :class:`~tasks.anomaly.detector.Detector` writes. :class:`OnnxDetector` reads that one
file and scores like the detector it came from, without the model's Python classes.

Export is checked, not assumed: :func:`export_onnx` scores a fixed set of images with both the
eager detector and the exported one and refuses the export, naming the model, where a score
differs by more than ``PARITY`` (relative to the score's size, absolute below 1). Models whose
networks do not trace to ONNX are refused by name with the reason (the DDPM's bound uses
``log_ndtr``, which ONNX lacks; the GMM's float64 branches do not type-check in ONNX Runtime).
"""

from __future__ import annotations

import json
import math
import os
import sys
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from genmodels.contract import GenerativeModel
from genmodels.errors import CapabilityError
from tasks.anomaly.complexity import Compressor, code_length_bits
from tasks.anomaly.detector import Detector, moved_threshold, rules_from_state, threshold_frame
from tasks.anomaly.layout import LayoutDensity
from tasks.anomaly.scores import Evidence, Score
from tasks.anomaly.threshold import ConformalThreshold

#: how far an exported score may lie from the eager one: ``|a - b| <= PARITY * max(1, |b|)``
PARITY = 1e-4
OPSET = 17
_META = "priorworks.detector"


class _CodeLengths(nn.Module):
    """``images -> -log2 p(images)`` per image (and the background model's, when kept)."""

    def __init__(self, model: GenerativeModel, background: GenerativeModel | None) -> None:
        super().__init__()
        self.model, self.background = model, background

    def forward(self, images: Tensor) -> Tensor | tuple[Tensor, Tensor]:
        bits = -self.model.log_likelihood(images) / math.log(2)
        if self.background is None:
            return bits
        return bits, -self.background.log_likelihood(images) / math.log(2)


def parity_images(image_shape: tuple[int, int, int], levels: int, n: int = 16) -> Tensor:
    """A fixed check set on the model's grid: flat images at several levels and uniform noise."""
    g = torch.Generator().manual_seed(0)
    flat = torch.linspace(0, 1, n // 2).round(decimals=6).view(-1, 1, 1, 1)
    flat = torch.round(flat * (levels - 1)) / (levels - 1)
    noise = torch.randint(0, levels, (n - n // 2, *image_shape), generator=g) / (levels - 1)
    return torch.cat([flat.expand(-1, *image_shape), noise.float()])


def export_onnx(detector: Detector, path: str | Path, check: Tensor | None = None) -> Path:
    """Write ``detector`` to ``path`` as one ONNX file and check its scores against the eager
    detector's on ``check`` (default :func:`parity_images`).

    Raises:
        CapabilityError: the model does not export, or its exported scores differ; nothing is
            left at ``path``.
    """
    path = Path(path)
    name = type(detector.model).name
    check = parity_images(detector.image_shape, detector.levels) if check is None else check
    # scored eagerly first: also runs any first-call initialization (e.g. ActNorm's) before
    # the trace, which would otherwise record it
    want = detector.scores(check)
    nets = _CodeLengths(detector.model, detector.background).eval()
    example = parity_images(detector.image_shape, detector.levels, 2)
    outputs = ["nll_bits"] + (["background_nll_bits"] if detector.background is not None else [])
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        try:
            # quiet: tracer warnings on the models' input checks, and the graph the exporter
            # prints from C++ when it fails (the error below names the reason)
            with warnings.catch_warnings(), _stdout_discarded(), torch.no_grad():
                warnings.simplefilter("ignore")
                torch.onnx.export(
                    nets,
                    (example,),
                    tmp,
                    dynamo=False,  # torch.export stops on the data-dependent input checks
                    opset_version=OPSET,
                    input_names=["images"],
                    output_names=outputs,
                    dynamic_axes={k: {0: "batch"} for k in ["images", *outputs]},
                )
            _write_metadata(tmp, detector)
            exported = OnnxDetector.load(tmp)
        except Exception as err:  # the exporter and ONNX Runtime raise many types
            reason = str(err).strip().splitlines()[0][:300] if str(err).strip() else repr(err)
            raise CapabilityError(
                f"model '{name}' cannot be exported to ONNX: {type(err).__name__}: {reason}"
            ) from None
        _check_parity(name, want, exported.scores(check))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


@contextmanager
def _stdout_discarded() -> Iterator[None]:
    """File descriptor 1 sent to /dev/null (C++ prints bypass ``sys.stdout``)."""
    sys.stdout.flush()
    saved = os.dup(1)
    with open(os.devnull, "w") as null:
        os.dup2(null.fileno(), 1)
        try:
            yield
        finally:
            os.dup2(saved, 1)
            os.close(saved)


def _write_metadata(path: str, detector: Detector) -> None:
    import onnx

    proto = onnx.load(path)
    meta = {
        "state": detector.state(),
        "image_shape": list(detector.image_shape),
        "levels": detector.levels,
        "num_dims": detector.model.num_dims,
        "model": type(detector.model).name,
        "background": None if detector.background is None else type(detector.background).name,
    }
    entry = proto.metadata_props.add()
    entry.key, entry.value = _META, json.dumps(meta)
    onnx.save(proto, path)


def _check_parity(name: str, want: np.ndarray, got: np.ndarray) -> None:
    gap = np.abs(got - want) / np.maximum(1.0, np.abs(want))
    if not np.isfinite(got).all() or gap.max() > PARITY:
        worst = int(np.nanargmax(np.where(np.isfinite(gap), gap, np.inf)))
        raise CapabilityError(
            f"model '{name}' exported to ONNX scores differently: image {worst} scores "
            f"{got[worst]:.6g} against {want[worst]:.6g} eager (tolerance {PARITY:g} relative)"
        )


@dataclass(frozen=True)
class OnnxDetector:
    """A detector read from one ONNX file: the graph's code lengths, then the same score and
    threshold as :class:`~tasks.anomaly.detector.Detector` (``scores``, ``predict``,
    ``recalibrated`` behave alike)."""

    session: Any  # onnxruntime.InferenceSession
    score: Score
    threshold: ConformalThreshold
    image_shape: tuple[int, int, int]
    levels: int
    num_dims: int
    layout: LayoutDensity | None
    compressor: Compressor
    batch_size: int
    model_name: str

    @classmethod
    def load(cls, path: str | Path, threads: int | None = None) -> OnnxDetector:
        """``threads``: ONNX Runtime's intra-op threads (default: its own choice, the cores)."""
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads is not None:
            options.intra_op_num_threads = threads
        session = ort.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        raw = session.get_modelmeta().custom_metadata_map.get(_META)
        if raw is None:
            raise CapabilityError(f"{path}: not a priorworks detector (no '{_META}' metadata)")
        meta = json.loads(raw)
        score, threshold, layout, compressor, batch_size = rules_from_state(meta["state"])
        return cls(
            session,
            score,
            threshold,
            tuple(meta["image_shape"]),
            int(meta["levels"]),
            int(meta["num_dims"]),
            layout,
            compressor,
            batch_size,
            str(meta["model"]),
        )

    def _code_lengths(self, images: Tensor) -> tuple[np.ndarray, np.ndarray | None]:
        nll, background = [], []
        x = images.detach().cpu().float().numpy()
        for start in range(0, len(x), self.batch_size):
            out = self.session.run(None, {"images": x[start : start + self.batch_size]})
            nll.append(out[0])
            if len(out) > 1:
                background.append(out[1])
        joined = np.concatenate(nll).astype(np.float64) if nll else np.empty(0)
        return joined, (np.concatenate(background).astype(np.float64) if background else None)

    def scores(self, images: Tensor) -> np.ndarray:
        """``(N,)`` float64 anomaly scores."""
        nll, background = self._code_lengths(images)
        evidence = Evidence(
            nll_bits=nll,
            code_bits=(
                code_length_bits(images, self.levels, self.compressor)
                if self.score.needs_code
                else None
            ),
            background_nll_bits=background,
            num_dims=self.num_dims,
            layout_bits=None if self.layout is None else self.layout.bits(images),
        )
        return self.score(evidence)

    def predict(self, images: Tensor) -> pd.DataFrame:
        return threshold_frame(self.scores(images), self.threshold)

    def recalibrated(
        self, target_fpr: float | None = None, threshold: float | None = None
    ) -> OnnxDetector:
        return replace(self, threshold=moved_threshold(self.threshold, target_fpr, threshold))

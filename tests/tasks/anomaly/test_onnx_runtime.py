"""A detector exported to one ONNX file scores like the eager detector, or is refused by name."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from zoo_params import tiny_params

import tasks.anomaly.onnx_runtime as onnx_runtime
from genmodels.data import ensure_splits, load_dataset
from genmodels.errors import CapabilityError
from genmodels.registry import get_model_class, list_models
from tasks.anomaly.detector import Detector
from tasks.anomaly.layout import LayoutDensity
from tasks.anomaly.onnx_runtime import PARITY, OnnxDetector, export_onnx
from tasks.anomaly.scores import gather_evidence, make_score
from tasks.anomaly.threshold import ConformalThreshold

SCORED = sorted(m.name for m in list_models() if m.likelihood in ("exact", "bound"))
# what ONNX cannot express today, and why (the module docstring says the same)
REFUSED = {
    "ddpm": "log_ndtr",
    "ddpm-cond": "log_ndtr",
    "gmm": "Mismatched tensor element type",
}


@pytest.fixture(scope="module")
def digits():
    splits = ensure_splits(load_dataset("digits"), 0.2, 0.3, 0)
    return splits["train"].images[:200], splits["test"].images[:120]


def _detector(name, train, score="bpd", background=None, layout=None):
    torch.manual_seed(0)
    model = get_model_class(name)(tuple(train.shape[1:]), 17, **tiny_params(name)).eval()
    if model.closed_form:
        model.fit_closed_form(train)
    rule = make_score(score)
    evidence = gather_evidence(model, train, background, 256, "png", layout)
    rule = rule.fit(evidence) if rule.needs_reference else rule
    threshold = ConformalThreshold.fit(rule(evidence), 0.1)
    return Detector.keeping_what_it_uses(model, rule, threshold, background, layout, "png", 64)


def _close(got, want):
    return np.all(np.abs(got - want) <= PARITY * np.maximum(1.0, np.abs(want)))


@pytest.mark.parametrize("name", SCORED)
def test_every_scoring_model_exports_with_equal_scores_or_is_refused_by_name(
    name, digits, tmp_path
):
    train, test = digits
    detector = _detector(name, train)
    path = tmp_path / f"{name}.onnx"
    if name in REFUSED:
        with pytest.raises(CapabilityError, match=f"model '{name}' cannot be exported to ONNX"):
            export_onnx(detector, path, check=test)
        assert not path.exists() and list(tmp_path.iterdir()) == []  # no temporary left behind
        return
    export_onnx(detector, path, check=test)
    exported = OnnxDetector.load(path)
    assert exported.model_name == name and exported.image_shape == detector.image_shape
    want, got = detector.predict(test), exported.predict(test)
    assert _close(got["score"].to_numpy(), want["score"].to_numpy())
    assert np.array_equal(got["p_value"], want["p_value"])
    assert np.array_equal(got["flagged"], want["flagged"])
    # the batch axis is free: one image and an odd-sized batch score alike
    assert _close(exported.scores(test[:1]), want["score"].to_numpy()[:1])
    assert _close(exported.scores(test[:37]), want["score"].to_numpy()[:37])


def test_scores_with_a_background_and_a_layout_travel_in_the_file(digits, tmp_path):
    train, test = digits
    background = get_model_class("ppca")((1, 8, 8), 17, n_components=2)
    background.fit_closed_form(test[60:])  # another "domain": the other half of the test split
    layout = LayoutDensity.fit(train, (2, 2))
    for score in ["likelihood-ratio", "ensemble", "layout-typicality"]:
        detector = _detector("realnvp", train, score, background, layout)
        path = export_onnx(detector, tmp_path / f"{score}.onnx", check=test)
        graph = onnx.load(path).graph
        outputs = [o.name for o in graph.output]
        assert outputs == (
            ["nll_bits", "background_nll_bits"] if detector.background is not None else ["nll_bits"]
        )
        exported = OnnxDetector.load(path)
        assert exported.score.name == score
        assert _close(exported.scores(test[:60]), detector.scores(test[:60]))


def test_recalibrated_onnx_detector_moves_its_threshold_like_the_eager_one(digits, tmp_path):
    train, test = digits
    detector = _detector("realnvp", train)
    exported = OnnxDetector.load(export_onnx(detector, tmp_path / "d.onnx", check=test))
    moved, moved_eager = exported.recalibrated(target_fpr=0.3), detector.recalibrated(0.3)
    assert moved.threshold.threshold == moved_eager.threshold.threshold
    assert moved.threshold.threshold < exported.threshold.threshold
    assert np.array_equal(moved.predict(test)["flagged"], moved_eager.predict(test)["flagged"])


def test_an_export_that_scores_differently_is_refused_and_leaves_nothing(
    digits, tmp_path, monkeypatch
):
    train, test = digits
    monkeypatch.setattr(onnx_runtime, "PARITY", 0.0)  # float32 runtimes never agree to 0
    path = tmp_path / "d.onnx"
    with pytest.raises(CapabilityError, match="model 'realnvp' exported to ONNX scores differ"):
        export_onnx(_detector("realnvp", train), path, check=test)
    assert list(tmp_path.iterdir()) == []


def test_an_onnx_file_without_a_detector_is_refused_by_path(tmp_path):
    path = tmp_path / "plain.onnx"
    torch.onnx.export(torch.nn.Linear(2, 1), (torch.zeros(1, 2),), path, dynamo=False)
    with pytest.raises(CapabilityError, match="plain.onnx: not a priorworks detector"):
        OnnxDetector.load(path)

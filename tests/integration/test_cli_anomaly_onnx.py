"""A logged detector carries its ONNX export; `score --runtime onnx` scores like torch."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from anomaly_cli import run_scores_only

import mlflow
from pipelines.cli import main
from tasks.anomaly.onnx_runtime import PARITY


@pytest.fixture
def scored_inputs(tmp_path):
    from genmodels.data import ensure_splits, load_dataset

    x = ensure_splits(load_dataset("digits"), 0.2, 0.3, 0)["test"].images[:70]
    path = tmp_path / "new.npz"
    np.savez(path, test_images=x.numpy()[:, 0].astype(np.float32))
    return path, x


def test_score_on_onnx_runtime_equals_torch_and_moves_thresholds_alike(
    mlflow_store, tmp_path, scored_inputs, capsys
):
    client, parent, _ = run_scores_only(mlflow_store)
    assert parent.data.tags["onnx"] == "exported"
    assert "model/artifacts/detector.onnx" in [
        f.path for f in client.list_artifacts(parent.info.run_id, "model/artifacts")
    ]
    path, x = scored_inputs
    base = ["score", "--model", parent.info.run_id, "--input", str(path)]
    frames = {}
    for runtime in ["torch", "onnx"]:
        for extra in [[], ["--target-fpr", "0.4"]]:
            out = tmp_path / f"{runtime}{len(extra)}.csv"
            assert main([*base, "--out", str(out), "--runtime", runtime, *extra]) == 0
            frames[runtime, len(extra)] = pd.read_csv(out)
    for moved in [0, 2]:
        torch_, onnx_ = frames["torch", moved], frames["onnx", moved]
        gap = np.abs(onnx_["score"] - torch_["score"]) / np.maximum(1, np.abs(torch_["score"]))
        assert gap.max() <= PARITY
        assert np.array_equal(onnx_["flagged"], torch_["flagged"])
        assert np.allclose(onnx_["p_value"], torch_["p_value"])
    assert frames["onnx", 2]["flagged"].sum() > frames["onnx", 0]["flagged"].sum()
    # the pyfunc model takes the runtime as its model_config
    mlflow.set_tracking_uri(mlflow_store)
    loaded = mlflow.pyfunc.load_model(
        f"runs:/{parent.info.run_id}/model", model_config={"runtime": "onnx"}
    )
    assert loaded.unwrap_python_model().onnx is not None
    pred = loaded.predict(x.numpy())
    assert np.allclose(pred["score"], frames["onnx", 0]["score"], atol=1e-6)


def test_a_model_that_does_not_export_is_logged_without_onnx_and_refused_by_name(
    mlflow_store, tmp_path, scored_inputs, capsys
):
    _, parent, _ = run_scores_only(
        mlflow_store, "model.name=gmm", "model.params={n_components: 2}", "task.score=bpd",
        "task.scores=[bpd]", "task.background=null",
    )  # fmt: skip
    assert parent.data.tags["onnx"].startswith("refused: model 'gmm' cannot be exported to ONNX")
    path, _ = scored_inputs
    out = tmp_path / "s.csv"
    args = ["score", "--model", parent.info.run_id, "--input", str(path), "--out", str(out)]
    assert main([*args, "--runtime", "onnx"]) == 2
    assert "logged without an ONNX export" in capsys.readouterr().err and not out.exists()
    assert main(args) == 0 and out.exists()  # torch still scores it

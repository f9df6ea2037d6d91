"""`priorworks run share` end to end: audit, gate, bundle, MLflow."""

from __future__ import annotations

import json

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from genmodels.data import ensure_splits, load_dataset
from pipelines.cli import main

TINY = ["output.experiment=it-share"]  # on top of the spec's `tiny` preset


def _args(tmp_path, *extra: str) -> list[str]:
    out = ["run", "share", "--preset", "tiny", "--set", f"task.release_dir={tmp_path / 'rel'}"]
    for s in [*TINY, *extra]:
        out += ["--set", s]
    return out


def _numbers(tree) -> list[list]:
    """Every list in a JSON tree."""
    if isinstance(tree, dict):
        return [x for v in tree.values() for x in _numbers(v)]
    if isinstance(tree, list):
        return [tree] + [x for v in tree for x in _numbers(v)]
    return []


@pytest.fixture
def run_share(mlflow_store, tmp_path, capsys):
    def run(*extra):
        code = main(_args(tmp_path, *extra))
        client = MlflowClient(mlflow_store)
        runs = client.search_runs([client.get_experiment_by_name("it-share").experiment_id])
        # the newest parent run (search_runs lists the newest first)
        parent = next(r for r in runs if "mlflow.parentRunId" not in r.data.tags)
        return code, parent, client, capsys.readouterr()

    return run


def test_share_writes_an_audited_bundle_without_training_images(run_share, tmp_path):
    code, run, client, out = run_share()
    assert code == 0, out.err
    assert run.info.status == "FINISHED" and run.data.tags["release"] == "written"
    folder = tmp_path / "rel" / "share-v1"
    assert (tmp_path / "rel" / "share-v1.tar.gz").is_file()
    sheet = json.loads((folder / "datasheet.json").read_text())
    for key in ("memorization_rate", "membership_auc", "utility_tstr", "precision", "frechet"):
        assert key in sheet["audit"] and np.isfinite(sheet["audit"][key])
        assert run.data.metrics[key] == pytest.approx(sheet["audit"][key])
    assert sheet["gate"]["passed"] is True
    # the datasheet carries counts and a fingerprint, never pixel data
    assert max(len(x) for x in _numbers(sheet)) <= 3  # image_shape is the longest list
    assert (
        sheet["source"]["splits"]["train"]["images"] > 0 and len(sheet["source"]["sha256_16"]) == 16
    )
    # the released images are the synthetic ones, none a copy of a training image
    train = ensure_splits(load_dataset("digits"), 0.15, 0.3, 0)["train"].images
    with np.load(folder / "images.npz") as npz:
        released = npz["images"]
    assert len(released) == len(train)
    train_u8 = {(t[0].numpy() * 255).round().astype(np.uint8).tobytes() for t in train}
    assert not any(img[..., 0].tobytes() in train_u8 for img in released)
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "datasheet")}
    assert "datasheet/DATASHEET.md" in artifacts


def test_a_failed_gate_writes_nothing_and_says_why(run_share, tmp_path):
    code, run, _, out = run_share("task.gate={min_utility_ratio: 5.0}")
    assert code == 3
    assert "release REFUSED" in out.out and "utility_ratio" in out.out
    assert (
        run.data.tags["release"] == "refused"
        and "utility_ratio" in run.data.tags["release_reasons"]
    )
    assert not (tmp_path / "rel").exists() or not any((tmp_path / "rel").iterdir())


def test_dp_sgd_training_is_accounted_in_the_datasheet_and_gated(run_share, tmp_path):
    # a gate on epsilon refuses the default (non-private) model: epsilon is unbounded
    code, run, _, out = run_share("task.gate={max_dp_epsilon: 50.0}")
    assert code == 3 and "dp_epsilon = inf" in out.out
    assert "dp_epsilon" not in run.data.metrics  # MLflow stores no infinity
    # with DP-SGD the same gate passes and the datasheet states the guarantee
    code, run, _, out = run_share(
        "task.gate={max_dp_epsilon: 50.0, max_memorization_rate: 0.5, max_membership_auc: 0.9}",
        "train.privacy={noise_multiplier: 1.0, max_grad_norm: 1.0}",
    )
    assert code == 0, out.err + out.out
    assert "trained with DP-SGD: epsilon" in out.out
    folders = sorted((tmp_path / "rel").glob("share-v*/"))
    sheet = json.loads((folders[-1] / "datasheet.json").read_text())
    dp = sheet["model"]["differential_privacy"]
    assert 0 < dp["epsilon"] < 50 and dp["noise_multiplier"] == 1.0 and dp["steps"] > 0
    assert 0 < dp["delta"] < 1 / sheet["source"]["splits"]["train"]["images"]
    assert sheet["audit"]["dp_epsilon"] == pytest.approx(dp["epsilon"])
    assert run.data.metrics["dp_epsilon"] == pytest.approx(dp["epsilon"])

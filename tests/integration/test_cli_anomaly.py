"""The CLI end to end against a temporary MLflow store, read back with MlflowClient."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
import torch
from anomaly_cli import (
    PRIMARY,
    cli_args,
    runs_of,
)

import mlflow
from pipelines.cli import main


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, new_store):
    """One tiny pipeline run shared by the read-back tests."""
    store = tmp_path_factory.mktemp("store")
    uri = new_store(store / "mlflow.db")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", uri)
        mp.delenv("PRIORWORKS_ARTIFACT_ROOT", raising=False)
        code = main(cli_args())
    assert code == 0
    client, runs = runs_of(uri)
    parent = next(r for r in runs if "mlflow.parentRunId" not in r.data.tags)
    return client, parent, runs, store


def test_parent_and_nested_runs_are_finished_and_tagged(finished_run):
    _, parent, runs, _ = finished_run
    assert parent.info.status == "FINISHED"
    names = {r.info.run_name for r in runs}
    assert {
        "anomaly-detect: realnvp on digits",
        "train:realnvp:model",
        "train:realnvp:background",
        "task:anomaly:realnvp:bpd",
        PRIMARY,
        "baseline:pca_reconstruction",
        "baseline:gmm",
        "baseline:png:code_bits",
    } <= names
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    # 2 trainings, 5 scores, 2 scikit-learn and 2 compressor baselines
    assert len(children) == 11 and all(r.info.status == "FINISHED" for r in children)
    for r in runs:
        assert r.data.tags["task"] == "anomaly" and len(r.data.tags["config_hash"]) == 16
    assert parent.data.tags["likelihood"] == "exact"
    assert parent.data.tags["model"] == "realnvp" and parent.data.tags["dataset"] == "digits"


def test_params_and_metrics_are_logged(finished_run):
    client, parent, runs, _ = finished_run
    assert parent.data.params["train.max_epochs"] == "3"
    assert parent.data.params["task.normal_classes"] == "[8]"
    assert int(parent.data.params["n_test"]) == 540
    auroc = parent.data.metrics["realnvp:bpd.auroc"]
    assert 0.5 < auroc <= 1.0
    train = next(r for r in runs if r.info.run_name == "train:realnvp:model")
    history = client.get_metric_history(train.info.run_id, "val_bpd")
    assert len(history) == 3  # one value per epoch, through Lightning's MLFlowLogger
    assert train.data.params["hidden_channels"] == "8"
    task = next(r for r in runs if r.info.run_name.startswith("task:"))
    assert (
        task.data.metrics["auroc_ci_low"]
        <= task.data.metrics["auroc"]
        <= task.data.metrics["auroc_ci_high"]
    )


def test_artifacts_are_logged_beside_the_store(finished_run):
    client, parent, runs, store = finished_run
    assert parent.info.artifact_uri.startswith((store / "artifacts").as_uri())
    top = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"plots", "tables"} <= top
    plots = {a.path for a in client.list_artifacts(parent.info.run_id, "plots")}
    assert plots == {
        "plots/roc.png",
        "plots/synthetic_anomalies.png",
        "plots/anomaly_maps.png",
        "plots/anomaly_maps_test.png",
    }
    task = next(r for r in runs if r.info.run_name == PRIMARY)
    plots = {a.path for a in client.list_artifacts(task.info.run_id, "plots")}
    assert {"plots/histogram.png", "plots/most_anomalous.png", "plots/least_anomalous.png"} <= plots
    csv = client.download_artifacts(task.info.run_id, "tables/test_scores.csv")
    import pandas as pd

    frame = pd.read_csv(csv)
    assert len(frame) == 540
    assert set(frame.columns) >= {"id", "label", "is_anomaly", "score", "p_value", "flagged"}
    assert frame["p_value"].between(0, 1).all()
    train = next(r for r in runs if r.info.run_name == "train:realnvp:model")
    assert "plots/samples.png" in {
        a.path for a in client.list_artifacts(train.info.run_id, "plots")
    }


def test_logged_model_scores_like_the_trained_model(finished_run):
    client, parent, runs, _ = finished_run
    mlflow.set_tracking_uri(client.tracking_uri)
    loaded = mlflow.pyfunc.load_model(f"runs:/{parent.info.run_id}/model")
    from genmodels.data import ensure_splits, load_dataset

    # The same test images, in the same order as the pipeline's test split.
    splits = ensure_splits(load_dataset("digits"), 0.2, 0.3, 0)
    x = splits["test"].images[:64]
    pred = loaded.predict(x.numpy())
    assert list(pred.columns) == ["score", "p_value", "flagged"]
    # The pipeline logged the trained Lightning model's scores: the exported model must match,
    # here for the ensemble score, whose state and background model travel inside the export.
    task = next(r for r in runs if r.info.run_name == PRIMARY)
    import pandas as pd

    logged = pd.read_csv(client.download_artifacts(task.info.run_id, "tables/test_scores.csv"))
    assert np.allclose(pred["score"].to_numpy(), logged["score"].to_numpy()[:64], atol=1e-5)
    assert np.array_equal(pred["flagged"].to_numpy(), logged["flagged"].to_numpy()[:64])


def test_every_score_and_compressor_baseline_is_compared_in_one_run(finished_run):
    _, parent, runs, _ = finished_run
    metrics = parent.data.metrics
    for method in (
        "realnvp:ensemble", "realnvp:bpd", "realnvp:complexity", "realnvp:typicality",
        "realnvp:likelihood-ratio", "png:code_bits", "png:code_typicality", "gmm",
    ):  # fmt: skip
        assert 0.0 <= metrics[f"{method}.auroc"] <= 1.0
    roles = {r.data.tags.get("role") for r in runs if r.info.run_name.startswith("train:")}
    assert roles == {"model", "background"}
    params = parent.data.params
    assert int(params["n_reference"]) + int(params["n_calibration"]) == int(params["n_val_normal"])


def test_every_model_score_is_compared_with_the_best_baseline(finished_run):
    client, parent, _, _ = finished_run
    table = pd.read_csv(client.download_artifacts(parent.info.run_id, "tables/results.csv"))
    baselines = table[table["kind"] == "baseline"]
    best = baselines.sort_values("auroc").iloc[-1]
    assert baselines["auroc_gain"].isna().all()
    scores = table[table["kind"] != "baseline"]
    assert len(scores) == 5 and (scores["best_baseline"] == best["method"]).all()
    expected = scores["auroc"] - best["auroc"]
    assert scores["auroc_gain"].to_numpy() == pytest.approx(expected.to_numpy())
    assert (scores["auroc_gain_ci_low"] <= scores["auroc_gain"]).all()
    assert (scores["auroc_gain"] <= scores["auroc_gain_ci_high"]).all()
    metric = parent.data.metrics["realnvp:typicality.auroc_gain"]
    assert metric == pytest.approx(
        float(scores.set_index("method").loc["realnvp:typicality", "auroc_gain"])
    )


def test_same_seed_gives_same_metrics_and_a_tie_keeps_the_champion(finished_run, mlflow_store):
    _, parent, _, _ = finished_run
    assert main(cli_args()) == 0
    client, runs = runs_of(mlflow_store)
    again = next(r for r in runs if "mlflow.parentRunId" not in r.data.tags)
    for key in ("realnvp:bpd.auroc", "realnvp:ensemble.auroc", "gmm.auroc", "png:code_bits.auroc"):
        assert again.data.metrics[key] == pytest.approx(parent.data.metrics[key], abs=1e-9)
    # a fresh store: this run registered version 1 and made it champion
    assert again.data.tags["champion"] == "true"
    assert str(client.get_model_version_by_alias("it-detector", "champion").version) == "1"


def test_champion_moves_only_to_a_better_model(finished_run):
    client, parent, _, _ = finished_run
    assert parent.data.tags["registered_version"] == "1"
    champion = client.get_model_version_by_alias("it-detector", "champion")
    assert str(champion.version) == "1"
    assert float(champion.tags["auroc"]) == pytest.approx(
        parent.data.metrics["realnvp:ensemble.auroc"]
    )
    from pipelines.tracking.champion import promote_if_better

    mlflow.set_tracking_uri(client.tracking_uri)
    mlflow.set_registry_uri(client.tracking_uri)  # the shared run's store, not the last test's
    uri = f"runs:/{parent.info.run_id}/model"
    worse = promote_if_better("it-detector", uri, float(champion.tags["auroc"]) - 0.1)
    assert not worse.promoted and worse.version == "2"
    better = promote_if_better("it-detector", uri, float(champion.tags["auroc"]) + 0.01)
    assert better.promoted and better.previous == pytest.approx(float(champion.tags["auroc"]))
    assert str(client.get_model_version_by_alias("it-detector", "champion").version) == "3"


def test_score_command_scores_files_with_the_champion_like_the_pipeline(
    finished_run, tmp_path, capsys, monkeypatch, new_store
):
    client, _, runs, _ = finished_run
    monkeypatch.setenv("MLFLOW_TRACKING_URI", client.tracking_uri)
    # a registry URI left pointing elsewhere must not matter: `score` uses the project's store
    mlflow.set_registry_uri(new_store(tmp_path / "elsewhere.db"))
    from genmodels.data import ensure_splits, load_dataset

    splits = ensure_splits(load_dataset("digits"), 0.2, 0.3, 0)
    x = splits["test"].images[:40]
    np.savez(tmp_path / "new.npz", test_images=x.numpy()[:, 0].astype(np.float32))
    out = tmp_path / "scores.csv"
    args = [
        "score",
        "--model",
        "models:/it-detector@champion",
        "--input",
        str(tmp_path / "new.npz"),
    ]
    assert main([*args, "--out", str(out), "--batch-size", "16"]) == 0
    assert "scored 40 image(s)" in capsys.readouterr().out
    import pandas as pd

    scored = pd.read_csv(out)
    assert list(scored.columns) == ["file", "score", "p_value", "flagged"]
    # streamed in chunks of 16: every image once, in file order
    assert scored["file"].tolist() == [f"new.npz[test]:{i}" for i in range(40)]
    task = next(r for r in runs if r.info.run_name == PRIMARY)
    logged = pd.read_csv(client.download_artifacts(task.info.run_id, "tables/test_scores.csv"))
    # the champion is this run's model (version 1): same scores as the pipeline's, to 1e-5
    assert np.allclose(scored["score"].to_numpy(), logged["score"].to_numpy()[:40], atol=1e-5)
    assert np.array_equal(scored["flagged"].to_numpy(), logged["flagged"].to_numpy()[:40])


def test_score_command_moves_the_threshold_without_retraining(
    finished_run, tmp_path, capsys, monkeypatch
):
    client, _, _, _ = finished_run
    monkeypatch.setenv("MLFLOW_TRACKING_URI", client.tracking_uri)
    from genmodels.data import ensure_splits, load_dataset

    x = ensure_splits(load_dataset("digits"), 0.2, 0.3, 0)["test"].images[:60]
    np.savez(tmp_path / "new.npz", test_images=x.numpy()[:, 0].astype(np.float32))
    base = [
        "score",
        "--model",
        "models:/it-detector@champion",
        "--input",
        str(tmp_path / "new.npz"),
    ]
    import pandas as pd

    assert main([*base, "--out", str(tmp_path / "default.csv")]) == 0
    said = capsys.readouterr().out
    assert "(calibrated at training)" in said
    default = pd.read_csv(tmp_path / "default.csv")
    assert main([*base, "--out", str(tmp_path / "loose.csv"), "--target-fpr", "0.3"]) == 0
    said = capsys.readouterr().out
    promised = float(
        re.search(r"\(recalibrated\): a false-positive rate of at most ([\d.]+)", said)[1]
    )
    assert 0.2 < promised <= 0.3  # a conformal promise never above the target
    loose = pd.read_csv(tmp_path / "loose.csv")
    # the same scores and p-values; a lower threshold flags everything flagged before, and more
    assert np.allclose(loose["score"], default["score"]) and np.allclose(
        loose["p_value"], default["p_value"]
    )
    assert (loose["flagged"] >= default["flagged"]).all()
    assert loose["flagged"].sum() > default["flagged"].sum()
    cut = float(np.median(default["score"]))
    assert main([*base, "--out", str(tmp_path / "cut.csv"), "--threshold", str(cut)]) == 0
    by_hand = pd.read_csv(tmp_path / "cut.csv")
    assert np.array_equal(by_hand["flagged"].to_numpy(), default["score"].to_numpy() > cut)
    assert f"threshold {cut:.6g} (recalibrated)" in capsys.readouterr().out
    # refused with exit 2 and nothing written
    for extra, message in [
        (["--target-fpr", "0.001"], "cannot recalibrate the threshold"),
        (["--target-fpr", "1.5"], "target_fpr must be in \\(0, 1\\)"),
        (["--batch-size", "0"], "--batch-size must be at least 1"),
    ]:
        out = tmp_path / "refused.csv"
        assert main([*base, "--out", str(out), *extra]) == 2
        assert re.search(message, capsys.readouterr().err) and not out.exists()
    assert main([*base, "--out", str(tmp_path)]) == 2
    assert "is a folder; --out names the CSV file" in capsys.readouterr().err


def test_score_command_reads_nifti_and_refuses_bad_inputs_without_writing(
    finished_run, tmp_path, capsys, monkeypatch
):
    import nibabel as nib

    client, parent, _, _ = finished_run
    monkeypatch.setenv("MLFLOW_TRACKING_URI", client.tracking_uri)
    volume = np.random.default_rng(0).integers(0, 4000, (32, 32, 5)).astype(np.uint16)
    nib.save(nib.Nifti1Image(volume, np.eye(4)), str(tmp_path / "ct.nii.gz"))
    out = tmp_path / "ct.csv"
    run_id = parent.info.run_id
    assert (
        main(
            ["score", "--model", run_id, "--input", str(tmp_path / "ct.nii.gz"), "--out", str(out)]
        )
        == 0
    )
    import pandas as pd

    frame = pd.read_csv(out)
    assert frame["file"].tolist() == [f"ct.nii.gz#{k}" for k in range(5)]
    assert frame["p_value"].between(0, 1).all()

    bad_out = tmp_path / "bad.csv"
    (tmp_path / "notes.txt").write_text("x")
    code = main(
        ["score", "--model", run_id, "--input", str(tmp_path / "notes.txt"), "--out", str(bad_out)]
    )
    assert code == 2 and "unsupported input" in capsys.readouterr().err
    code = main(
        [
            "score",
            "--model",
            "models:/no-such-model@champion",
            "--input",
            str(out),
            "--out",
            str(bad_out),
        ]
    )
    assert (
        code == 2
        and "cannot load model 'models:/no-such-model@champion'" in capsys.readouterr().err
    )
    assert not bad_out.exists() and not list(tmp_path.glob(".bad.csv*"))


def test_the_delivered_detector_draws_maps_judged_on_known_masks(finished_run):
    client, parent, _, _ = finished_run
    # the tiny run's primary is realnvp:ensemble: a flow maps with its input gradient and with
    # its own features; the patch-neighbour map alone and joined with the detail map, and the
    # three joined, are the other candidates (the joined ones standardized only); the one
    # delivered is the best on the validation images' synthetic anomalies
    table = pd.read_csv(client.download_artifacts(parent.info.run_id, "tables/map_candidates.csv"))
    assert set(table["map_kind"]) == {
        "gradient",
        "patch-nn",
        "patch-nn+detail",
        "features-nn",
        "patch-nn+features-nn+detail",
    }
    assert len(table) == 3 * 2 * 3 + 2 * 3
    best = table.loc[table["selection_pixel_auroc"].idxmax()]
    assert parent.data.params["map_kind"] == best["map_kind"]
    assert float(parent.data.params["map_sigma"]) == best["sigma"]
    assert parent.data.metrics["map_selection_pixel_auroc"] == pytest.approx(
        best["selection_pixel_auroc"]
    )
    assert table["test_pixel_auroc"].between(0, 1).all()
    # and per synthetic corruption: each local kind is scored on its own images
    per_kind = [k for k in parent.data.metrics if k.startswith("map_pixel_auroc.")]
    assert "map_pixel_auroc.local-noise" in per_kind and len(per_kind) == 6
    assert 0.0 <= parent.data.metrics["map_pro"] <= 1.0
    # how good the maps are is measured by the bench; a 3-epoch flow on 8x8 digits maps poorly
    assert 0.0 <= parent.data.metrics["map_pixel_auroc"] <= 1.0
    # beside the model-free reference on the same anomalies
    assert 0.5 < parent.data.metrics["map_baseline_pixel_auroc"] <= 1.0
    assert 0.0 <= parent.data.metrics["map_baseline_pro"] <= 1.0


def test_every_detector_is_also_scored_on_synthetic_anomalies(finished_run):
    client, parent, _, _ = finished_run
    table = pd.read_csv(client.download_artifacts(parent.info.run_id, "tables/results.csv"))
    assert table["synthetic_auroc"].between(0, 1).all()
    assert int(parent.data.params["n_synthetic_anomalies"]) > 0
    # this run selects by `score`: every baseline stays as it is; model scores have no form
    baselines = table[table["kind"] == "baseline"]
    assert (baselines["form"] == "as-is").all() and (
        table[table["kind"] != "baseline"]["form"] == "-"
    ).all()


def test_score_writes_one_map_per_input_and_nifti_maps_in_the_input_geometry(
    finished_run, tmp_path, capsys, monkeypatch
):
    import nibabel as nib
    from PIL import Image

    from pipelines.tracking.scoring import load_scoring_model
    from tasks.anomaly.maps import delivered_maps

    client, parent, _, _ = finished_run
    monkeypatch.setenv("MLFLOW_TRACKING_URI", client.tracking_uri)
    run_id = parent.info.run_id
    images = np.random.default_rng(1).random((5, 8, 8)).astype(np.float32)
    np.savez(tmp_path / "new.npz", test_images=images)
    maps = tmp_path / "maps"
    args = ["score", "--model", run_id, "--out", str(tmp_path / "s.csv"), "--maps", str(maps)]
    assert main([*args, "--input", str(tmp_path / "new.npz")]) == 0
    files = sorted(p.name for p in maps.iterdir())
    assert files == [f"new.npz_test_{i}.png" for i in range(5)]
    first = np.asarray(Image.open(maps / files[0]))
    assert first.shape == (8, 8) and first.min() == 0 and first.max() == 255
    # the PNG is the detector's delivered map, stretched within the image
    _, detector = load_scoring_model(run_id)
    levels = detector.levels - 1  # the inputs were put on the model's level grid
    grid = np.round(images[:1, None] * levels) / levels
    raw = delivered_maps(detector, torch.from_numpy(grid.astype(np.float32)))[0]
    ranks = np.argsort(raw.ravel(), kind="stable")
    assert np.all(np.diff(first.ravel()[ranks].astype(int)) >= 0)
    # a NIfTI volume: its map has the volume's shape and affine
    affine = np.diag([0.7, 0.7, 2.5, 1.0])
    volume = np.random.default_rng(0).integers(0, 4000, (24, 20, 3)).astype(np.uint16)
    nib.save(nib.Nifti1Image(volume, affine), str(tmp_path / "ct.nii.gz"))
    nifti_maps = tmp_path / "ct-maps"
    args[-1] = str(nifti_maps)
    assert main([*args, "--input", str(tmp_path / "ct.nii.gz")]) == 0
    written = nib.load(str(nifti_maps / "ct_map.nii.gz"))
    assert written.shape == (24, 20, 3) and np.allclose(written.affine, affine)
    assert np.isfinite(written.get_fdata()).all()
    # a folder that holds files already is refused, and nothing is half-written
    assert main([*args, "--input", str(tmp_path / "ct.nii.gz")]) == 2
    assert "--maps folder is not empty" in capsys.readouterr().err
    # --maps naming the CSV's path, or a file: refused before anything is written (found by
    # the fuzz tests: a traceback from the final rename, or from writing into a file)
    same = str(tmp_path / "both")
    assert main(["score", "--model", run_id, "--input", str(tmp_path / "new.npz"),
                 "--out", same, "--maps", same]) == 2  # fmt: skip
    assert "--out and --maps name the same path" in capsys.readouterr().err
    args[-1] = str(tmp_path / "new.npz")  # an existing file
    assert main([*args, "--input", str(tmp_path / "new.npz")]) == 2
    assert "new.npz: is a file; --maps names a new folder" in capsys.readouterr().err
    assert not (tmp_path / "both").exists()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_runs_of_different_models_compare_column_by_column(finished_run):
    """The compare view: a parent name that says model and data, the deployed score's numbers
    under model-free keys, and nested runs with the params that tell them apart."""
    _, parent, runs, _ = finished_run
    assert parent.info.run_name == "anomaly-detect: realnvp on digits"
    metrics = parent.data.metrics
    assert metrics["selected.auroc"] == metrics["realnvp:ensemble.auroc"]  # the primary
    assert metrics["selected.synthetic_auroc"] == metrics["realnvp:ensemble.synthetic_auroc"]
    score = next(r for r in runs if r.info.run_name == PRIMARY)
    assert score.data.params["score"] == "ensemble" and score.data.params["model"] == "realnvp"
    assert score.data.params["dataset"] == "digits" and score.data.params["seed"] == "0"
    assert score.data.params["model.hidden_channels"] == "8"  # the tiny preset's
    baseline = next(r for r in runs if r.info.run_name == "baseline:gmm")
    assert baseline.data.params["baseline"] == "gmm" and "model" not in baseline.data.params
    train = next(r for r in runs if r.info.run_name == "train:realnvp:model")
    assert train.data.params["role"] == "model" and train.data.params["dataset"] == "digits"

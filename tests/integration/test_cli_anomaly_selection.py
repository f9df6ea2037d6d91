"""The anomaly CLI's choices, end to end: backgrounds, layouts, how the primary score is chosen
(validation, synthetic anomalies, fixed in advance), the baselines' forms."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from anomaly_cli import (
    assert_exported_model_scores_like_the_run,
    cli_args,
    run_scores_only,
    runs_of,
)
from mlflow.tracking import MlflowClient

import mlflow
from pipelines.cli import main


def test_a_general_domain_background_trains_on_another_data_set_and_travels_with_the_model(
    mlflow_store,
):
    """Digits as normal data, the embedded colour photos (16x16 RGB) as the background corpus:
    converted to gray 8x8 at the digits' 17 levels; its typicality is the primary score."""
    client, parent, runs = run_scores_only(
        mlflow_store,
        "task.background={data: {name: photos, max_images: 300}, mutation_rate: 0.0, "
        "max_epochs: 1}",
        "task.score=background-typicality",
        "task.scores=[likelihood-ratio]",
    )
    assert parent.data.params["background_source"].startswith("photos (")
    n_photos = int(parent.data.params["background_source"].split("(")[1].split()[0])
    assert n_photos > int(parent.data.params["n_train_normal"])  # not the normal images
    for method in ("realnvp:background-typicality", "realnvp:likelihood-ratio"):
        assert 0.0 <= parent.data.metrics[f"{method}.auroc"] <= 1.0
    assert_exported_model_scores_like_the_run(client, parent, runs, "background-typicality")


def test_background_params_change_only_the_background_and_its_training_key(mlflow_store, capsys):
    """Ren et al.'s L2-regularized background: `task.background.params` reaches the background
    model, not the main one; the main model is reused, the background trains again."""
    from genmodels.persistence import load_model
    from pipelines.training import MODEL_FILE

    extra = ["task.scores=[likelihood-ratio]", "task.baselines=[]", "output.registered_model=null"]
    assert main(cli_args(*extra)) == 0
    assert main(cli_args(*extra, "task.background.params={weight_decay: 0.01}")) == 0
    out = capsys.readouterr().out
    assert "reused realnvp (model)" in out and "reused realnvp (background)" not in out
    assert "parameters {'weight_decay': 0.01}" in out
    client, runs = runs_of(mlflow_store)
    trained = [r for r in runs if r.data.tags.get("stage") == "train"]
    backgrounds = [r for r in trained if r.data.tags["role"] == "background"]
    assert len({r.data.tags["train_key"] for r in backgrounds}) == 2

    def weight_decay(run) -> float:
        path = client.download_artifacts(run.info.run_id, MODEL_FILE)
        return float(load_model(path).hparams.get("weight_decay", 0.0))

    decays = sorted(weight_decay(r) for r in backgrounds)
    assert decays == [0.0, 0.01]
    models = [
        r for r in trained if r.data.tags["role"] == "model" and "reused_from" not in r.data.tags
    ]
    assert [weight_decay(r) for r in models] == [0.0]


def test_the_layout_score_travels_with_the_logged_model(mlflow_store):
    """The layout density is fit on the normal training digits; the exported model carries it
    and scores like the pipeline."""
    client, parent, runs = run_scores_only(
        mlflow_store,
        "task.layout={image_size: [4, 4]}",
        "task.score=layout-typicality",
        "task.scores=[layout]",
    )
    assert parent.data.params["layout_size"] == "4x4"
    for method in ("realnvp:layout-typicality", "realnvp:layout"):
        assert 0.0 <= parent.data.metrics[f"{method}.auroc"] <= 1.0
    assert_exported_model_scores_like_the_run(client, parent, runs, "layout-typicality")


def test_select_by_validation_picks_the_best_validation_score_and_registers_by_it(
    mlflow_store, tmp_path, new_store
):
    """The primary score is the argmax of the logged validation AUROCs (never the test's), the
    logged model scores with it, and the registry judges the version by that validation AUROC.
    The model registers in the run's own store even when the process pointed the registry
    elsewhere before."""
    elsewhere = new_store(tmp_path / "elsewhere.db")
    mlflow.set_registry_uri(elsewhere)
    client, parent, runs = run_scores_only(
        mlflow_store,
        "task.select_by=auto",  # the digits' val split holds the other digits: validation
        "task.layout={image_size: [4, 4]}",
        "task.score=bpd",
        "task.scores=[typicality, layout, layout-typicality]",
        "output.registered_model=val-detector",
    )
    val = {
        key.removesuffix(".val_auroc"): value
        for key, value in parent.data.metrics.items()
        if key.endswith(".val_auroc") and not key.startswith("selected.")
    }
    assert len(val) == 4 and all(0.0 <= v <= 1.0 for v in val.values())
    chosen = max(val, key=val.__getitem__)
    assert parent.data.tags["selected_score"] == chosen.split(":", 1)[1]
    assert parent.data.params["selected_by"] == "validation"
    assert_exported_model_scores_like_the_run(client, parent, runs, chosen.split(":", 1)[1])
    registry = MlflowClient(mlflow_store, registry_uri=mlflow_store)
    version = registry.get_model_version_by_alias("val-detector", "champion")
    assert float(version.tags["val_auroc"]) == pytest.approx(val[chosen])
    assert not MlflowClient(registry_uri=elsewhere).search_registered_models()


def test_the_confident_rule_deploys_what_its_logged_validation_gains_say(mlflow_store, capsys):
    """`task.validation_rule: confident`: every score's validation gain over the fixed score is
    logged with its interval, and the deployed score is the rule's pick from those numbers."""
    from tasks.anomaly.selection import confident_pick

    scores = ["bpd", "typicality", "layout", "layout-typicality"]
    client, parent, runs = run_scores_only(
        mlflow_store,
        "task.select_by=auto",
        "task.validation_rule=confident",
        "task.layout={image_size: [4, 4]}",
        f"task.score={scores[0]}",
        f"task.scores=[{', '.join(scores[1:])}]",
    )
    metrics = parent.data.metrics
    val = np.array([metrics[f"realnvp:{s}.val_auroc"] for s in scores])
    low = np.array([metrics[f"realnvp:{s}.val_gain_ci_low"] for s in scores])
    high = np.array([metrics[f"realnvp:{s}.val_gain_ci_high"] for s in scores])
    assert low[0] == high[0] == 0.0  # the fixed score against itself
    assert (low[1:] <= high[1:]).all() and not np.isnan(low).any()
    deployed = scores[confident_pick(val, low)]
    assert parent.data.tags["selected_score"] == deployed
    assert "beyond chance" in capsys.readouterr().out
    assert_exported_model_scores_like_the_run(client, parent, runs, deployed)


def test_normal_images_only_select_on_synthetic_anomalies_and_register_by_them(
    mlflow_store, tmp_path, capsys
):
    """A user's usual data: a folder of normal images, no labels, no anomalies anywhere."""
    from PIL import Image

    rng = np.random.default_rng(0)
    folder = tmp_path / "scans"
    folder.mkdir()
    for i in range(160):  # a bright square on a noisy background, in slightly different places
        pixels = rng.integers(40, 90, (12, 12)).astype(np.uint8)
        r, c = rng.integers(2, 5, 2)
        pixels[r : r + 6, c : c + 6] += 120
        Image.fromarray(pixels).save(folder / f"{i:03d}.png")
    code = main(
        cli_args(
            "data.name=folder",
            f"data.path={folder}",
            "task.select_by=auto",
            "task.normal_classes=[0]",
            "output.registered_model=scan-detector",
        )
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "by AUROC on synthetic anomalies" in out and "the test split was not used" in out
    client, runs = runs_of(mlflow_store)
    parent = next(r for r in runs if "mlflow.parentRunId" not in r.data.tags)
    assert parent.data.params["selected_by"] == "synthetic"
    assert parent.data.params["n_test_anomalous"] == "0"
    picked = parent.data.tags["selected_score"]
    scored = {
        name: parent.data.metrics[f"realnvp:{name}.synthetic_auroc"]
        for name in ("ensemble", "bpd", "complexity", "typicality", "likelihood-ratio")
    }
    assert picked == max(scored, key=scored.get)  # the first of equals in spec order aside
    assert not any(k.endswith(".auroc") for k in parent.data.metrics)  # no anomalies: no AUROC
    stage = next(r for r in runs if r.info.run_name == f"task:anomaly:realnvp:{picked}")
    assert 0 <= stage.data.metrics["fpr_at_threshold"] <= 0.2
    version = client.get_model_version_by_alias("scan-detector", "champion")
    assert float(version.tags["synthetic_auroc"]) == pytest.approx(scored[picked])
    plots = {a.path for a in client.list_artifacts(parent.info.run_id, "plots")}
    assert "plots/synthetic_anomalies.png" in plots and "plots/roc.png" not in plots


def test_a_score_fixed_in_advance_is_deployed_without_reading_a_label(mlflow_store, capsys):
    """select_by: fixed deploys `score` even where validation would pick another, and the run's
    comparison number is its AUROC on synthetic anomalies."""
    client, parent, runs = run_scores_only(
        mlflow_store, "task.select_by=fixed", "task.score=bpd", "task.scores=[typicality]"
    )
    assert "deployed realnvp:bpd, the score fixed in advance" in capsys.readouterr().out
    assert parent.data.params["selected_by"] == "fixed"
    assert parent.data.tags["selected_score"] == "bpd"
    metrics = parent.data.metrics
    assert metrics["selected.synthetic_auroc"] == metrics["realnvp:bpd.synthetic_auroc"]
    assert_exported_model_scores_like_the_run(client, parent, runs, "bpd")


def test_baselines_take_the_form_that_the_selection_set_prefers(mlflow_store):
    from tasks.anomaly.orientation import FORMS

    client, parent, runs = run_scores_only(
        mlflow_store,
        "task.select_by=synthetic",
        "task.baselines=[pca_reconstruction]",
        "task.compressor_baselines=[code_bits]",
    )
    stages = [r for r in runs if r.data.tags.get("stage") == "baseline"]
    assert {r.info.run_name for r in stages} == {
        "baseline:pca_reconstruction",
        "baseline:png:code_bits",
    }
    table = pd.read_csv(client.download_artifacts(parent.info.run_id, "tables/results.csv"))
    for stage in stages:
        form = stage.data.tags["form"]
        assert form in FORMS
        row = table[table["method"] == stage.data.tags["model"]].iloc[0]
        assert row["form"] == form
        # the chosen form is the best of the three on the synthetic anomalies, so at least 0.5
        assert stage.data.metrics["synthetic_auroc"] >= 0.5 - 1e-9

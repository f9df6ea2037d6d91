"""`priorworks run augment` end to end on a tiny preset, read back from MLflow."""

from __future__ import annotations

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from pipelines.cli import main

TINY = ["output.experiment=it-augment"]  # on top of the spec's `tiny` preset
#: a VAE fit for 30 steps on the unlabelled training images
POOL_VAE = ["model.name=vae", "task.generator_data=unlabelled-pool", "task.pool_generator_steps=30"]


def _args(*extra: str) -> list[str]:
    out = ["run", "augment", "--preset", "tiny"]
    for s in [*TINY, *extra]:
        out += ["--set", s]
    return out


def test_augment_run_logs_table_plot_and_metrics(mlflow_store, capsys):
    assert main(_args()) == 0
    printed = capsys.readouterr().out
    assert "real+classic+gen" in printed and "synthetic-only" in printed
    client = MlflowClient(mlflow_store)
    exp = client.get_experiment_by_name("it-augment")
    (run,) = client.search_runs([exp.experiment_id])
    assert run.info.status == "FINISHED" and run.data.tags["task"] == "augment"
    arms = ("real", "real_gen", "real_classic_gen", "real_gen-filtered", "synthetic-only")
    for arm in (*arms, "real_classic_gen-pretrain"):
        assert 0.0 <= run.data.metrics[f"acc.{arm}.k3"] <= 1.0
    assert "gain.real_gen.k3" in run.data.metrics and "gain.real.k3" not in run.data.metrics
    metrics = run.data.metrics
    assert "gain_vs_classic.real_classic_gen-pretrain.k3" in metrics
    assert "gain_vs_classic.real_classic.k3" not in metrics
    table = pd.read_csv(client.download_artifacts(run.info.run_id, "tables/results.csv"))
    assert len(table) == 7 and (table["seeds"] == 2).all()
    by_arm = table.set_index("arm")
    # each gain column is the difference of the arm's and its baseline's mean accuracy
    pretrain = by_arm.loc["real+classic+gen-pretrain"]
    assert pretrain["gain_vs_classic"] == pytest.approx(
        pretrain["mean"] - by_arm.loc["real+classic", "mean"]
    )
    assert pretrain["gain"] == pytest.approx(pretrain["mean"] - by_arm.loc["real", "mean"])
    assert "plots/accuracy_vs_k.png" in {
        a.path for a in client.list_artifacts(run.info.run_id, "plots")
    }


def test_gan_without_real_arm_is_refused_and_bad_k_is_a_spec_error(mlflow_store, capsys):
    code = main(_args("model.name=dcgan", "model.params={}", "task.arms=[real+gen]"))
    assert code == 2
    assert "model 'dcgan' is unconditional" in capsys.readouterr().err
    assert main(_args("task.ks=[1]")) == 2
    assert "every k must be >= 2" in capsys.readouterr().err
    client = MlflowClient(mlflow_store)
    assert client.get_experiment_by_name("it-augment") is None  # refused before any run


def test_an_unlabelled_pool_generator_is_fit_once_as_a_recorded_stage(mlflow_store, capsys):
    arms = "task.arms=[real, real+classic+gen-pretrain, real+classic+gen-pretrain-cv]"
    assert main(_args(*POOL_VAE, arms)) == 0
    printed = capsys.readouterr().out
    assert "fit on 897 unlabelled training images" in printed
    assert "3-fold cross-validation inside the k labelled images" in printed
    client = MlflowClient(mlflow_store)
    exp = client.get_experiment_by_name("it-augment")
    runs = client.search_runs([exp.experiment_id])
    (parent,) = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    stages = [r for r in runs if r.info.run_name == "train:vae:generator-pool"]
    assert len(stages) == 1  # one generator for both seeds and every k
    # the pool: 897 digits, a tenth validates; 30 steps of 32 -> one epoch of 26 batches
    assert stages[0].data.metrics["epochs_run"] == 1
    assert parent.data.params["generator_data"] == "unlabelled-pool"
    rows = pd.read_csv(client.download_artifacts(parent.info.run_id, "tables/rows.csv"))
    generated = rows[rows["arm"] == "real+classic+gen-pretrain"]
    shared = parent.data.metrics["generator_pool_seconds"]
    assert (generated["generator_seconds"] >= shared).all() and (rows["arm"] == "real").any()
    assert (rows.loc[rows["arm"] == "real", "generator_seconds"] == 0).all()
    # the cross-validated arm: the share of the two draws that kept the generated images
    cv = rows[rows["arm"] == "real+classic+gen-pretrain-cv"]
    kept = (cv["chosen"] == "real+classic+gen-pretrain").mean()
    assert ((cv["generator_seconds"] > 0) == (cv["chosen"] == "real+classic+gen-pretrain")).all()
    assert len(cv) == 2 and parent.data.metrics["cv_chose_pretrain.k3"] == pytest.approx(kept)
    # a class-conditional model cannot learn from unlabelled images
    code = main(_args("task.generator_data=unlabelled-pool"))
    assert (
        code == 2 and "unlabelled-pool fits the generator without labels" in capsys.readouterr().err
    )


def test_a_pool_vae_sampled_from_its_code_mixture(mlflow_store, capsys):
    pool = [
        *POOL_VAE,
        "task.sampling=latent-mixture",
        "task.latent_components=3",
        "task.arms=[real, real+classic+gen-pretrain]",
    ]
    assert main(_args(*pool)) == 0
    assert "decoded codes of a 3-component mixture" in capsys.readouterr().out
    client = MlflowClient(mlflow_store)
    runs = client.search_runs([client.get_experiment_by_name("it-augment").experiment_id])
    (run,) = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    rows = pd.read_csv(client.download_artifacts(run.info.run_id, "tables/rows.csv"))
    assert rows["accuracy"].between(0, 1).all() and len(rows) == 2 * 2  # arms x seeds

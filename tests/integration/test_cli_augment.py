"""`priorworks run augment` end to end on a tiny preset, read back from MLflow."""

from __future__ import annotations

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from pipelines.cli import main

TINY = ["output.experiment=it-augment"]  # on top of the spec's `tiny` preset


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

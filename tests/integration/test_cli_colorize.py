"""`priorworks run colorize` end to end on a tiny preset, read back from MLflow."""

from __future__ import annotations

import pandas as pd
from mlflow.tracking import MlflowClient

from pipelines.cli import main

TINY = ["output.experiment=it-colorize"]  # on top of the spec's `tiny` preset


def _args(*extra: str) -> list[str]:
    out = ["run", "colorize", "--preset", "tiny"]
    for s in [*TINY, *extra]:
        out += ["--set", s]
    return out


def test_colorize_run_logs_table_grids_and_metrics(mlflow_store, capsys):
    assert main(_args()) == 0
    printed = capsys.readouterr().out
    assert "mean-chroma" in printed and "regressor" in printed
    client = MlflowClient(mlflow_store)
    exp = client.get_experiment_by_name("it-colorize")
    runs = client.search_runs([exp.experiment_id])
    (run,) = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    (train,) = [r for r in runs if r.data.tags.get("stage") == "train"]
    assert train.data.tags["mlflow.parentRunId"] == run.info.run_id
    assert run.info.status == "FINISHED" and run.data.tags["task"] == "colorize"
    metrics = run.data.metrics
    for arm in ("uniform", "mean-chroma", "model", "regressor"):
        assert metrics[f"consistency.{arm}"] < 1e-5  # every arm reproduces the gray input
        assert 0 < metrics[f"psnr.{arm}"] < 100
    assert metrics["psnr.truth"] == 100.0
    assert metrics["diversity.model"] > 0 and "diversity.regressor" not in metrics
    table = pd.read_csv(client.download_artifacts(run.info.run_id, "tables/results.csv"))
    assert list(table["arm"]) == ["uniform", "mean-chroma", "model", "regressor", "truth"]
    per_image = pd.read_csv(client.download_artifacts(run.info.run_id, "tables/per_image.csv"))
    assert len(per_image) == 5 * 6
    plots = {a.path for a in client.list_artifacts(run.info.run_id, "plots")}
    assert "plots/colorization.png" in plots


def test_gray_data_and_a_prior_without_gradients_are_refused(mlflow_store, capsys):
    assert main(_args("data.name=digits", "task.arms=[uniform]")) == 2
    assert "needs colour (3-channel) images" in capsys.readouterr().err
    client = MlflowClient(mlflow_store)
    (run,) = client.search_runs([client.get_experiment_by_name("it-colorize").experiment_id])
    assert run.info.status == "FAILED"  # the run that hit the bad data is not marked finished
    assert main(_args("model.name=dcgan", "model.params={}")) == 2
    assert "differentiable" in capsys.readouterr().err

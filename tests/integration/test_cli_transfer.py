"""`priorworks run transfer` end to end on a tiny preset, read back from MLflow."""

from __future__ import annotations

import pandas as pd
from mlflow.tracking import MlflowClient

from pipelines.cli import main

TINY = [
    "model.params={n_components: 2}",
    "task.k_real=3",
    "task.ns=[0, 40]",
    "task.seeds=[0]",
    "task.probe=50",
    "task.teacher={max_epochs: 2, patience: 0, width: 4}",
    "output.sample_grid=0",
    "output.experiment=it-transfer",
]


def _args(*extra: str) -> list[str]:
    out = ["run", "transfer"]
    for s in [*TINY, *extra]:
        out += ["--set", s]
    return out


def test_transfer_run_logs_curves_table_and_metrics(mlflow_store, capsys):
    assert main(_args()) == 0
    assert "kernel-ridge" in capsys.readouterr().out
    client = MlflowClient(mlflow_store)
    runs = client.search_runs([client.get_experiment_by_name("it-transfer").experiment_id])
    (run,) = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert run.info.status == "FINISHED" and run.data.tags["task"] == "transfer"
    metrics = run.data.metrics
    assert 0 < metrics["teacher_accuracy"] <= 1
    for student in ("svc", "kernel-ridge"):
        for mode in ("random", "focused"):
            assert 0 <= metrics[f"acc.{student}.{mode}.n40"] <= 1
    table = pd.read_csv(client.download_artifacts(run.info.run_id, "tables/results.csv"))
    assert len(table) == 2 * 2 * 2  # students x modes x ns
    pair = pd.read_csv(client.download_artifacts(run.info.run_id, "tables/confused_pair.csv"))
    assert set(pair["n"]) == {0, 40}
    plots = {a.path for a in client.list_artifacts(run.info.run_id, "plots")}
    assert "plots/accuracy_vs_n.png" in plots


def test_bad_transfer_specs_are_refused(mlflow_store, capsys):
    assert main(_args("task.ns=[100]")) == 2
    assert "include 0" in capsys.readouterr().err
    assert main(_args("model.name=ppca", "model.params={}", "task.students=[knn]")) == 2
    assert "task.students" in capsys.readouterr().err

"""`priorworks compare`: runs of an experiment as a sortable table, with CSV."""

from __future__ import annotations

import pandas as pd

import mlflow
from pipelines.cli import main
from pipelines.tracking.store import setup_experiment


def _runs(aurocs: dict[str, float]) -> None:
    _, exp_id = setup_experiment("cmp")
    for model, auroc in aurocs.items():
        with mlflow.start_run(experiment_id=exp_id, run_name=f"run-{model}"):
            mlflow.set_tags({"task": "anomaly", "model": model, "likelihood": "exact"})
            mlflow.log_metrics({"x.auroc": auroc, "x.auprc": auroc / 2})
            with mlflow.start_run(run_name="stage", nested=True):
                mlflow.log_metric("inner", 1.0)


def test_compare_sorts_filters_and_writes_csv(mlflow_store, tmp_path, capsys):
    _runs({"realnvp": 0.7, "vae": 0.9, "gmm": 0.8})
    out = tmp_path / "runs.csv"
    assert (
        main(["compare", "cmp", "--sort", "x.auroc", "--metric", "*.auroc", "--csv", str(out)]) == 0
    )
    printed = capsys.readouterr().out
    assert printed.index("vae") < printed.index("gmm") < printed.index("realnvp")
    assert "x.auprc" not in printed and "inner" not in printed
    table = pd.read_csv(out)
    assert list(table["model"]) == ["vae", "gmm", "realnvp"]
    assert list(table["x.auroc"]) == [0.9, 0.8, 0.7]
    assert set(table["status"]) == {"FINISHED"} and len(table) == 3  # nested runs left out
    assert main(["compare", "cmp", "--nested", "--csv", str(out)]) == 0
    assert len(pd.read_csv(out)) == 6


def test_compare_names_what_is_missing(mlflow_store, capsys):
    _runs({"vae": 0.9})
    assert main(["compare", "nope"]) == 2
    assert "no experiment 'nope'" in capsys.readouterr().err
    assert main(["compare", "cmp", "--metric", "*.psnr"]) == 2
    assert "metrics here: x.auprc, x.auroc" in capsys.readouterr().err

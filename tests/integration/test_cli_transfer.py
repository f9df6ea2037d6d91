"""`priorworks run transfer` end to end on a tiny preset, read back from MLflow."""

from __future__ import annotations

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from pipelines.cli import main

TINY = ["output.experiment=it-transfer"]  # on top of the spec's `tiny` preset


def _args(*extra: str) -> list[str]:
    out = ["run", "transfer", "--preset", "tiny"]
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
        for mode in ("random", "focused", "uncertain"):
            assert 0 <= metrics[f"acc.{student}.{mode}.n40"] <= 1  # the generator's
            for baseline in ("warps", "mixup"):
                assert 0 <= metrics[f"acc.{student}.{baseline}.{mode}.n40"] <= 1
    table = pd.read_csv(client.download_artifacts(run.info.run_id, "tables/results.csv"))
    assert len(table) == 2 * 3 * 3 * 2  # students x sources x modes x ns
    assert (table["seconds"] > 0).all() and metrics["generator_seconds"] > 0
    sources = pd.read_csv(client.download_artifacts(run.info.run_id, "tables/sources.csv"))
    assert list(sources["source"]) == ["generator", "warps", "mixup"]
    for source in ("generator", "warps", "mixup"):
        assert 0 < metrics[f"source.{source}.confidence"] <= 1
        assert 0 <= metrics[f"source.{source}.precision"] <= 1
    pair = pd.read_csv(client.download_artifacts(run.info.run_id, "tables/confused_pair.csv"))
    assert set(pair["n"]) == {0, 40}
    plots = {a.path for a in client.list_artifacts(run.info.run_id, "plots")}
    assert "plots/accuracy_vs_n.png" in plots
    # the delivered source is chosen per seed on validation: its test accuracy is the chosen rows'
    chosen = pd.read_csv(client.download_artifacts(run.info.run_id, "tables/chosen.csv"))
    assert len(chosen) == 2 * 3  # students x modes
    rows = pd.read_csv(client.download_artifacts(run.info.run_id, "tables/rows.csv"))
    top = rows[(rows["n"] == 40) & (rows["student"] == "svc") & (rows["mode"] == "random")]
    svc = chosen[(chosen["student"] == "svc") & (chosen["mode"] == "random")].iloc[0]
    per_seed = [g[g["val_accuracy"] == g["val_accuracy"].max()] for _, g in top.groupby("seed")]
    if all(len(best) == 1 for best in per_seed):  # no tie: each seed's top row is its choice
        expected = sum(float(best["accuracy"].iloc[0]) for best in per_seed) / len(per_seed)
        assert svc["accuracy"] == pytest.approx(expected)
    assert metrics["chosen.acc.svc.random"] == pytest.approx(svc["accuracy"])


def test_bad_transfer_specs_are_refused(mlflow_store, capsys):
    assert main(_args("task.ns=[100]")) == 2
    assert "include 0" in capsys.readouterr().err
    assert main(_args("model.name=ppca", "model.params={}", "task.students=[knn]")) == 2
    assert "task.students" in capsys.readouterr().err


def _train_runs(client):
    runs = client.search_runs([client.get_experiment_by_name("it-transfer").experiment_id])
    return [r for r in runs if r.data.tags.get("stage") == "train"]


def test_a_finished_training_is_reused_unless_retrain_or_data_change(mlflow_store, capsys):
    assert main(_args()) == 0
    capsys.readouterr()
    client = MlflowClient(mlflow_store)
    (first,) = _train_runs(client)
    assert "reused_from" not in first.data.tags
    assert main(_args()) == 0
    assert f"reused gmm (model) from run {first.info.run_id}" in capsys.readouterr().out
    second = next(r for r in _train_runs(client) if r.info.run_id != first.info.run_id)
    assert second.data.tags["reused_from"] == first.info.run_id
    assert second.data.tags["train_key"] == first.data.tags["train_key"]
    parents = [
        r
        for r in client.search_runs([second.info.experiment_id])
        if "mlflow.parentRunId" not in r.data.tags
    ]
    a, b = ({k: v for k, v in p.data.metrics.items() if "seconds" not in k} for p in parents)
    assert a == pytest.approx(b)  # the reused model gives the same results
    assert main([*_args(), "--retrain"]) == 0
    assert main(_args("data.split_seed=1")) == 0  # other data: another key
    out = capsys.readouterr().out
    assert "reused" not in out
    assert sum("reused_from" in r.data.tags for r in _train_runs(client)) == 1


def test_a_vae_sampled_from_its_code_mixture_and_the_pool_ceiling(mlflow_store, capsys):
    vae = ["model.name=vae", "model.params={hidden_channels: 8, latent_dim: 4}"]
    code = main(
        _args(*vae, "task.sampling=latent-mixture", "task.latent_components=2",
              "task.sources=[generator, generator-and-warps, pool]", "train.max_epochs=1")
    )  # fmt: skip
    assert code == 0
    assert "2-component code mixture" in capsys.readouterr().out
    client = MlflowClient(mlflow_store)
    runs = client.search_runs([client.get_experiment_by_name("it-transfer").experiment_id])
    (run,) = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    rows = pd.read_csv(client.download_artifacts(run.info.run_id, "tables/rows.csv"))
    assert set(rows["source"]) == {"generator", "generator-and-warps", "pool"}
    assert rows["val_accuracy"].between(0, 1).all()  # scored on validation too
    # a model without codes is refused before anything trains
    assert main(_args("task.sampling=latent-mixture")) == 2
    assert "encoder and a decoder" in capsys.readouterr().err

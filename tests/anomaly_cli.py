"""Helpers of the anomaly CLI tests: the tiny run's settings, a run's records read back."""

from __future__ import annotations

import numpy as np
import pandas as pd
from mlflow.tracking import MlflowClient

import mlflow
from pipelines.cli import main

TINY = [  # on top of the spec's `tiny` preset
    "task.score=ensemble",
    "task.select_by=score",  # the primary stays `ensemble`; selection is tested on its own
    "task.scores=[bpd, complexity, typicality, likelihood-ratio]",
    "task.background={mutation_rate: 0.2, max_epochs: 2}",
    "task.compressor_baselines=[code_bits, code_typicality]",
    "output.registered_model=it-detector",
    "output.sample_grid=8",
    "output.experiment=it-anomaly",
]


PRIMARY = "task:anomaly:realnvp:ensemble"


def cli_args(*extra: str) -> list[str]:
    out = ["run", "anomaly-detect", "--preset", "tiny"]
    for s in [*TINY, *extra]:
        out += ["--set", s]
    return out


def runs_of(uri: str, experiment: str = "it-anomaly"):
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(experiment)
    return client, ([] if exp is None else client.search_runs([exp.experiment_id]))


def run_scores_only(store: str, *extra: str):
    """A tiny run with ``extra`` settings, by default with no baselines and no registry:
    (client, parent, runs)."""
    settings = [
        "task.baselines=[]",
        "task.compressor_baselines=[]",
        "output.registered_model=null",
        *extra,
    ]
    assert main(cli_args(*settings)) == 0
    client, runs = runs_of(store)
    parent = next(r for r in runs if "mlflow.parentRunId" not in r.data.tags)
    return client, parent, runs


def assert_exported_model_scores_like_the_run(client, parent, runs, score: str) -> None:
    """The run's logged model scores the first 32 test digits as its ``score`` stage did."""
    from genmodels.data import ensure_splits, load_dataset

    mlflow.set_tracking_uri(client.tracking_uri)
    loaded = mlflow.pyfunc.load_model(f"runs:/{parent.info.run_id}/model")
    x = ensure_splits(load_dataset("digits"), 0.2, 0.3, 0)["test"].images[:32]
    pred = loaded.predict(x.numpy())
    task = next(r for r in runs if r.info.run_name == f"task:anomaly:realnvp:{score}")
    logged = pd.read_csv(client.download_artifacts(task.info.run_id, "tables/test_scores.csv"))
    assert np.allclose(pred["score"].to_numpy(), logged["score"].to_numpy()[:32], atol=1e-5)

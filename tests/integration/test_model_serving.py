"""The logged anomaly model served over REST with `mlflow models serve` (MLflow's scoring server,
started here on 127.0.0.1): the endpoint answers with the same scores as the loaded model, and
refuses images it cannot score with a 400 that names the problem."""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

import mlflow
from genmodels.data import ensure_splits, load_dataset
from pipelines.cli import main

pytestmark = pytest.mark.slow


def _post(url: str, images: np.ndarray) -> tuple[int, dict]:
    body = json.dumps({"inputs": images.tolist()}).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


@pytest.fixture
def served(tmp_path: Path, monkeypatch, start_server):
    """A tiny anomaly-detect run's model behind `mlflow models serve`: (url, model uri)."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.delenv("PRIORWORKS_ARTIFACT_ROOT", raising=False)
    args = ["run", "anomaly-detect", "--preset", "tiny", "--set", "output.experiment=it-serve"]
    assert main(args) == 0
    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("it-serve").experiment_id])
    parent = next(r for r in runs if "mlflow.parentRunId" not in r.data.tags)
    model_uri = f"runs:/{parent.info.run_id}/model"
    bin_dir = Path(sys.executable).parent  # the scoring server is started by name from PATH
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    url = start_server(
        lambda port: [
            str(bin_dir / "mlflow"), "models", "serve", "-m", model_uri, "--env-manager", "local",
            "--host", "127.0.0.1", "--port", str(port),
        ],
        "/ping",
        env,
    )  # fmt: skip
    return url, model_uri


def test_served_model_scores_like_the_loaded_model_and_refuses_bad_images(served):
    url, model_uri = served
    x = ensure_splits(load_dataset("digits"), 0.2, 0.3, 0)["test"].images[:32].numpy()
    status, answer = _post(f"{url}/invocations", x)
    assert status == 200
    rows = answer["predictions"]
    expected = mlflow.pyfunc.load_model(model_uri).predict(x)
    assert len(rows) == len(x) == len(expected)
    assert np.allclose([r["score"] for r in rows], expected["score"].to_numpy(), atol=1e-5)
    assert [r["flagged"] for r in rows] == expected["flagged"].tolist()
    assert np.allclose([r["p_value"] for r in rows], expected["p_value"].to_numpy())

    bad = x.copy()
    bad[5, 0, 0, 0] = np.nan
    status, answer = _post(f"{url}/invocations", bad)
    assert status == 400 and "NaN or infinite values (first at rows [5])" in answer["message"]
    status, answer = _post(f"{url}/invocations", x[:, :, :7])
    assert status == 400 and "does not match expected shape" in answer["message"]


def test_the_served_model_answers_500_concurrent_requests_alike(served, capsys):
    """Under load (500 requests, 100 at a time, 8 images each) every answer is a 200 with the
    scores a lone request gets. The latencies are printed for the docs, not asserted."""
    from concurrent.futures import ThreadPoolExecutor

    url, _ = served
    x = ensure_splits(load_dataset("digits"), 0.2, 0.3, 0)["test"].images[:8].numpy()
    _, alone = _post(f"{url}/invocations", x)

    def timed(_: int) -> tuple[float, int, dict]:
        start = time.perf_counter()
        status, answer = _post(f"{url}/invocations", x)
        return time.perf_counter() - start, status, answer

    with ThreadPoolExecutor(max_workers=100) as pool:
        results = list(pool.map(timed, range(500)))
    assert [status for _, status, _ in results] == [200] * 500
    assert all(answer == alone for _, _, answer in results)
    seconds = np.array([s for s, _, _ in results])
    with capsys.disabled():
        print(
            f"\n500 requests, 100 concurrent, one worker: p50 {np.median(seconds) * 1000:.0f} ms,"
            f" p99 {np.percentile(seconds, 99) * 1000:.0f} ms"
        )

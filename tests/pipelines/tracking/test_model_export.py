"""Every model with a likelihood survives MLflow logging: the loaded model scores the same."""

from __future__ import annotations

import numpy as np
import pytest
from logged_detector import log_gmm_detector
from mlflow.exceptions import MlflowException
from zoo_params import tiny_params

import mlflow
from genmodels.registry import get_model_class, list_models
from genmodels.training import TrainConfig, fit_model, seed_all
from pipelines.tracking.model_export import log_detector
from pipelines.tracking.store import setup_experiment
from tasks.anomaly.detector import Detector
from tasks.anomaly.scores import make_score, score_images
from tasks.anomaly.threshold import ConformalThreshold

SCORED = [m.name for m in list_models() if m.likelihood in ("exact", "bound")]


@pytest.mark.parametrize("name", SCORED)
def test_mlflow_logged_model_scores_like_the_trained_model(name, tiny_images, mlflow_store):
    cls = get_model_class(name)
    seed_all(0)
    model = cls(tiny_images.image_shape, tiny_images.levels, **tiny_params(cls))
    fit_model(model, tiny_images, tiny_images, TrainConfig(max_epochs=1, batch_size=20, patience=0))
    scores = score_images(model, tiny_images.images, "bpd")
    threshold = ConformalThreshold.fit(scores[:30], 0.1)
    _, experiment_id = setup_experiment("zoo-mlflow")
    with mlflow.start_run(experiment_id=experiment_id) as run:
        log_detector(Detector(model, make_score("bpd"), threshold))
    loaded = mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/model")
    pred = loaded.predict(tiny_images.images.numpy().astype(np.float32))
    assert np.allclose(pred["score"].to_numpy(), scores, atol=1e-5)
    assert np.array_equal(pred["flagged"].to_numpy(), threshold.flag(scores))
    example = loaded.input_example  # stored with the model for serving; synthetic, not data
    assert example.shape == (1, *tiny_images.image_shape) and np.all(example == 0.5)


@pytest.mark.parametrize(
    ("bad", "message"),
    [(np.nan, "1 of 4 images hold NaN or infinite values"), (7.0, "outside \\[0, 1\\]")],
)
def test_logged_model_refuses_images_it_cannot_score(bad, message, tiny_images, mlflow_store):
    run_id = log_gmm_detector(tiny_images, "zoo-mlflow")
    loaded = mlflow.pyfunc.load_model(f"runs:/{run_id}/model")
    x = tiny_images.images[:4].numpy().astype(np.float32)
    assert len(loaded.predict(x)) == 4  # the same images, clean, are scored
    x[2, 0, 1, 1] = bad
    with pytest.raises(MlflowException, match=message) as err:
        loaded.predict(x)
    assert "rows [2]" in str(err.value)

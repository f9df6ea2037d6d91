"""Test helper: a small GMM anomaly detector logged as an MLflow model, as pipelines log one."""

from __future__ import annotations

from zoo_params import tiny_params

import mlflow
from genmodels.data.imageset import ImageSet
from genmodels.registry import get_model_class
from genmodels.training import TrainConfig, fit_model
from pipelines.tracking.model_export import log_detector
from pipelines.tracking.store import setup_experiment
from tasks.anomaly.detector import Detector
from tasks.anomaly.scores import make_score, score_images
from tasks.anomaly.threshold import ConformalThreshold


def log_gmm_detector(images: ImageSet, experiment: str) -> str:
    """Fit a tiny GMM on ``images`` (one epoch), calibrate its bits/dim threshold on the first 30
    at a 10% false-positive rate, log it in ``experiment`` of the current store; the run id."""
    cls = get_model_class("gmm")
    model = cls(images.image_shape, images.levels, **tiny_params(cls))
    fit_model(model, images, images, TrainConfig(max_epochs=1, batch_size=20, patience=0))
    threshold = ConformalThreshold.fit(score_images(model, images.images[:30], "bpd"), 0.1)
    _, experiment_id = setup_experiment(experiment)
    with mlflow.start_run(experiment_id=experiment_id) as run:
        log_detector(Detector(model, make_score("bpd"), threshold))
    return str(run.info.run_id)

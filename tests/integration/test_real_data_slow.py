"""Slow checks on the real data in ../shared/data (run by `make test-slow`)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from genmodels.data import ensure_splits, load_dataset
from genmodels.registry import get_model_class
from genmodels.training import TrainConfig, fit_model, seed_all
from tasks.anomaly import evaluate_detector, one_class_split, score_images

pytestmark = pytest.mark.slow


def test_flow_on_usps_keeps_its_false_positive_promise(shared_data):
    """The conformal threshold holds on real normal test digits, whatever the AUROC.

    (The raw likelihood ranks USPS anomalies poorly when 0 is normal: simpler digits such as 1
    get *higher* density, the known failure of likelihoods that the anomaly issue attacks.)
    """
    splits = ensure_splits(load_dataset("usps", shared_data / "digits" / "usps.npz"), 0.2, 0.3, 0)
    data = one_class_split(splits, [0])
    seed_all(0)
    model = get_model_class("realnvp")(
        data.train.image_shape, data.train.levels, num_scales=2, hidden_channels=32
    )
    fit_model(model, data.train, data.val, TrainConfig(max_epochs=8, batch_size=64, patience=0))
    result = evaluate_detector(
        "realnvp",
        score_images(model, data.val.images),
        score_images(model, data.test.images),
        data.test_is_anomaly,
        target_fpr=0.05,
        n_boot=200,
    )
    val_bpd = score_images(model, data.val.images).mean()
    normal_test_bpd = result.per_sample.loc[~data.test_is_anomaly, "score"].mean()
    assert abs(normal_test_bpd - val_bpd) < 0.1  # the model generalizes to unseen normal digits
    # 359 normal test digits: the achieved FPR stays near the 5% promise (3 standard errors).
    n_normal = int((~data.test_is_anomaly).sum())
    assert result.metrics["fpr_at_threshold"] <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / n_normal)


def test_pneumoniamnist_one_class_protocol(shared_data):
    splits = load_dataset("pneumoniamnist", shared_data / "medical" / "pneumoniamnist.npz")
    data = one_class_split(ensure_splits(splits, 0.2, 0.3, 0), [0])
    assert len(data.train) == 1214 and len(data.val) == 135
    assert int(data.test_is_anomaly.sum()) == 390 and len(data.test) == 624
    assert set(data.train.labels.tolist()) == {0}


def test_cifar10_archive_reads_straight_from_the_tarball(shared_data):
    (ims,) = load_dataset("cifar10", shared_data / "cifar10" / "train_jpg.tar.gz").values()
    assert len(ims) == 50000 and ims.image_shape == (3, 32, 32) and ims.levels == 256
    assert ims.class_names[0] == "airplane" and ims.class_names[-1] == "truck"
    assert torch.bincount(ims.labels).tolist() == [5000] * 10


def test_augment_runs_on_cifar10_colour_images_through_the_spec(shared_data, mlflow_store, capsys):
    from pipelines.cli import main

    archive = shared_data / "cifar10" / "train_jpg.tar.gz"
    args = ["run", "augment", "--preset", "tiny", "--set", "data.name=cifar10"]
    for setting in (f"data.path={archive}", "data.max_images=600", "task.flips=true"):
        args += ["--set", setting]
    assert main(args) == 0
    out = capsys.readouterr().out
    # every arm trained and tested on colour 32x32 images: ten classes, accuracies in [0, 1]
    for arm in ("real+classic", "real+gen", "synthetic-only"):
        row = next(line for line in out.splitlines() if line.split()[1:2] == [arm])
        assert 0.0 <= float(row.split()[3]) <= 1.0


def test_the_medical_recipe_runs_end_to_end_on_retinamnist(shared_data, mlflow_store, capsys):
    """The one recipe as shipped (its tiny preset: minutes), on colour fundus photographs:
    chosen on the validation split's graded images, a CIFAR-10 background made colour, maps."""
    from mlflow.tracking import MlflowClient

    from pipelines.cli import main

    args = ["run", "anomaly-medical", "--preset", "tiny"]
    for setting in (
        f"data.path={shared_data / 'medical' / 'retinamnist.npz'}",
        f"task.background.data.path={shared_data / 'cifar10' / 'train_jpg.tar.gz'}",
    ):
        args += ["--set", setting]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "normal classes [0]: 486 train / 54 val normal, 400 test (226 anomalous)" in out
    assert "selected realnvp:" in out and "by validation AUROC" in out
    client = MlflowClient(mlflow_store)
    runs = client.search_runs([client.get_experiment_by_name("anomaly-medical").experiment_id])
    parent = next(r for r in runs if "mlflow.parentRunId" not in r.data.tags)
    assert parent.data.params["image_shape"] == "3x28x28"
    assert parent.data.params["background_source"].startswith("cifar10 (")
    assert parent.data.params["selected_by"] == "validation"
    picked = parent.data.tags["selected_score"]
    assert 0 <= parent.data.metrics[f"realnvp:{picked}.auroc"] <= 1
    assert parent.data.params["map_kind"] in ("gradient", "layout", "patch-nn", "patch-nn+detail")
    # the delivered map is the best candidate on the validation images' synthetic anomalies
    table = pd.read_csv(client.download_artifacts(parent.info.run_id, "tables/map_candidates.csv"))
    assert parent.data.metrics["map_selection_pixel_auroc"] == table["selection_pixel_auroc"].max()
    assert 0 <= parent.data.metrics["map_pixel_auroc"] <= 1
    version = client.get_model_version_by_alias("medical-detector", "champion")
    assert float(version.tags["val_auroc"]) == pytest.approx(
        parent.data.metrics[f"realnvp:{picked}.val_auroc"]
    )

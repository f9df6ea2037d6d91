"""`priorworks run colorize` end to end on a tiny preset, read back from MLflow."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from mlflow.tracking import MlflowClient
from PIL import Image

from pipelines.cli import main
from pipelines.tracking.colorizing import load_colorizer
from tasks.colorize.chroma_flow import ChromaFlowModule
from tasks.colorize.chroma_pixelcnn import ChromaPixelCNNModule
from tasks.colorize.metrics import colourfulness
from tasks.colorize.stacking import StackedColorizer

TINY = ["output.experiment=it-colorize"]  # on top of the spec's `tiny` preset


def _args(*extra: str) -> list[str]:
    out = ["run", "colorize", "--preset", "tiny"]
    for s in [*TINY, *extra]:
        out += ["--set", s]
    return out


def test_colorize_run_logs_table_grids_and_metrics(mlflow_store, tmp_path, capsys):
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
    for arm in ("gray", "uniform", "mean-chroma", "model", "regressor", "conditional"):
        assert metrics[f"consistency.{arm}"] < 1e-5  # every arm reproduces the gray input
        assert 0 < metrics[f"psnr.{arm}"] < 100
        assert 0 < metrics[f"psnr_pooled.{arm}"] < 100
        assert 0 < metrics[f"psnr_median.{arm}"] < 100
    assert metrics["psnr.truth"] == 100.0
    assert metrics["diversity.model"] > 0 and "diversity.regressor" not in metrics
    assert metrics["diversity.conditional"] > 0 and metrics["sample_colourfulness.conditional"] > 0
    table = pd.read_csv(client.download_artifacts(run.info.run_id, "tables/results.csv"))
    assert list(table["arm"]) == [
        "gray",
        "uniform",
        "mean-chroma",
        "model",
        "regressor",
        "conditional",
        "stacked",
        "truth",
    ]
    per_image = pd.read_csv(client.download_artifacts(run.info.run_id, "tables/per_image.csv"))
    assert len(per_image) == 8 * 6  # (7 arms + truth) x 6 test images
    truth = per_image[per_image["arm"] == "truth"]
    assert (truth["colourfulness_gap"] == 0).all()
    # the learned arms against every baseline, paired over the same test images
    paired = pd.read_csv(client.download_artifacts(run.info.run_id, "tables/paired.csv"))
    assert set(zip(paired["arm"], paired["baseline"], strict=True)) == {
        (a, b)
        for a in ("model", "conditional", "stacked")
        for b in ("gray", "uniform", "mean-chroma", "regressor")
    }
    # the stacked arm: its weight chosen on validation, logged with its grid; no draws
    stacking = pd.read_csv(client.download_artifacts(run.info.run_id, "tables/stacking.csv"))
    assert stacking["chosen"].sum() == 1
    assert metrics["stacked_weight"] == stacking.loc[stacking["chosen"], "weight"].item()
    assert "diversity.stacked" not in metrics and metrics["consistency.stacked"] < 1e-5
    # the run keeps it, for `priorworks colorize --model runs:/<run>/conditional/stacked.pt`
    kept = load_colorizer(f"runs:/{run.info.run_id}/conditional/stacked.pt")
    assert isinstance(kept, StackedColorizer) and kept.weight == metrics["stacked_weight"]
    assert isinstance(kept.posterior, ChromaFlowModule)  # the spec stacks the flow
    # and a bare run id gets it too; the flow alone is there by its artifact's name
    by_id = load_colorizer(run.info.run_id)
    assert isinstance(by_id, StackedColorizer) and by_id.weight == kept.weight
    flow = load_colorizer(f"runs:/{run.info.run_id}/conditional/chroma_flow.pt")
    assert isinstance(flow, ChromaFlowModule)
    psnr = per_image.pivot(index="image", columns="arm", values="psnr")
    expected = (psnr["conditional"] - psnr["mean-chroma"]).mean()
    row = paired[(paired["arm"] == "conditional") & (paired["baseline"] == "mean-chroma")]
    assert float(row[row["metric"] == "psnr"]["mean"].iloc[0]) == pytest.approx(expected)
    assert metrics["paired.psnr.conditional-vs-mean-chroma"] == pytest.approx(expected)
    assert "conditional - mean-chroma psnr" in printed
    plots = {a.path for a in client.list_artifacts(run.info.run_id, "plots")}
    assert "plots/colorization.png" in plots
    # judged as posteriors: coverage where an arm samples, an energy score for every arm, and
    # the set-level PSNR compared by a paired bootstrap
    for arm in ("uniform", "mean-chroma", "model", "conditional"):
        assert 0 <= metrics[f"coverage_50.{arm}"] <= metrics[f"coverage_90.{arm}"] <= 1
    assert "coverage_90.gray" not in metrics and metrics["energy_score.gray"] > 0
    assert metrics["truth_bpd.uniform"] > 0 and metrics["truth_bpd.conditional"] > 0
    assert metrics["sample_colourfulness_ratio.conditional"] > 0
    pooled = paired[(paired["metric"] == "psnr_pooled") & (paired["baseline"] == "gray")]
    assert set(pooled["arm"]) == {"model", "conditional", "stacked"}
    assert (pooled["ci_low"] <= pooled["mean"]).all() and (
        pooled["mean"] <= pooled["ci_high"]
    ).all()
    # both forms of the conditional flow were calibrated on validation; the one kept is logged
    grid = pd.read_csv(
        client.download_artifacts(run.info.run_id, "tables/temperature_calibration.csv")
    )
    assert set(grid["residual"]) == {False, True}
    kept = grid.loc[grid["kept"], "residual"].unique()
    assert len(kept) == 1
    assert run.data.params["conditional_form"] == ("residual" if kept[0] else "plain")
    # the conditional flow is kept, and colorizes an image of another size from the run's id
    assert client.list_artifacts(run.info.run_id, "conditional")[0].path == (
        "conditional/chroma_flow.pt"
    )
    photo = tmp_path / "photo.png"
    Image.fromarray(np.full((20, 30, 3), (200, 120, 40), np.uint8)).save(photo)
    out = tmp_path / "colored"
    assert (
        main(["colorize", "--model", run.info.run_id, "--input", str(photo), "--out", str(out)])
        == 0
    )
    assert "1 input(s) had colour" in capsys.readouterr().out
    assert np.asarray(Image.open(out / "photo.png")).shape == (20, 30, 3)


def test_gray_data_and_a_prior_without_gradients_are_refused(mlflow_store, capsys):
    assert main(_args("data.name=digits", "task.arms=[uniform]")) == 2
    assert "needs colour (3-channel) images" in capsys.readouterr().err
    client = MlflowClient(mlflow_store)
    (run,) = client.search_runs([client.get_experiment_by_name("it-colorize").experiment_id])
    assert run.info.status == "FAILED"  # the run that hit the bad data is not marked finished
    assert main(_args("model.name=dcgan", "model.params={}")) == 2
    assert "differentiable" in capsys.readouterr().err


def test_a_conditional_flow_too_deep_for_the_images_is_refused_before_training(
    mlflow_store, capsys
):
    # the photo patches are 16x16; six scales would need sides divisible by 32
    assert main(_args("task.conditional.num_scales=6")) == 2
    err = capsys.readouterr().err
    assert "needs image sides divisible by 32; the images are 16x16" in err
    client = MlflowClient(mlflow_store)
    runs = client.search_runs([client.get_experiment_by_name("it-colorize").experiment_id])
    assert [r.info.status for r in runs] == ["FAILED"]  # nothing trained: no nested run


def test_the_pixelcnn_arm_logs_its_calibration_and_refuses_patches_it_cannot_tile(
    mlflow_store, capsys
):
    small = (
        "{codes: 4, factor: 4, hidden: 4, num_blocks: 1, context_channels: 4, max_epochs: 1, "
        "patience: 0, temperatures: [0.5, 1.0], calibration_draws: 2, mean_samples: 2}"
    )
    assert main(_args("task.arms=[gray, conditional-pixelcnn]", f"task.pixelcnn={small}")) == 0
    client = MlflowClient(mlflow_store)
    (run,) = client.search_runs([client.get_experiment_by_name("it-colorize").experiment_id])
    metrics = run.data.metrics
    assert metrics["consistency.conditional-pixelcnn"] < 1e-5
    assert 0 <= metrics["coverage_90.conditional-pixelcnn"] <= 1
    assert metrics["pixelcnn_temperature"] in (0.5, 1.0)
    grid = pd.read_csv(
        client.download_artifacts(run.info.run_id, "tables/pixelcnn_temperature_calibration.csv")
    )
    chosen = grid.loc[grid["chosen_for_estimate"], "temperature"].item()
    assert metrics["pixelcnn_estimate_temperature"] == chosen
    # the run keeps the PixelCNN, for `priorworks colorize --model runs:/<run>/<its path>`
    loaded = load_colorizer(f"runs:/{run.info.run_id}/conditional/chroma_pixelcnn.pt")
    assert isinstance(loaded, ChromaPixelCNNModule)
    assert loaded.estimate_temperature == chosen
    # with no stacked file and no flow, a bare run id gets the PixelCNN
    assert isinstance(load_colorizer(run.info.run_id), ChromaPixelCNNModule)
    # the photo patches are 16x16: a factor of 3 does not tile them, and nothing trains
    assert main(_args("task.arms=[gray, conditional-pixelcnn]", "task.pixelcnn.factor=3")) == 2
    assert "the images are 16x16" in capsys.readouterr().err
    runs = client.search_runs([client.get_experiment_by_name("it-colorize").experiment_id])
    assert sorted(r.info.status for r in runs) == ["FAILED", "FINISHED"]


def test_model_weights_are_loaded_instead_of_trained_and_never_reused_as_a_training(
    mlflow_store, tmp_path, capsys
):
    """`model.weights` (a model trained elsewhere) replaces the training of the prior; a later
    run without it trains (or reuses) a model of its own, never the loaded file."""
    import torch

    from genmodels.persistence import load_model, save_model
    from pipelines.training import MODEL_FILE

    assert main(_args()) == 0
    client = MlflowClient(mlflow_store)
    exp = client.get_experiment_by_name("it-colorize")
    (trained,) = [r for r in client.search_runs([exp.experiment_id]) if "train_key" in r.data.tags]
    own = load_model(client.download_artifacts(trained.info.run_id, MODEL_FILE, str(tmp_path)))
    elsewhere = load_model(client.download_artifacts(trained.info.run_id, MODEL_FILE))
    with torch.no_grad():
        for p in elsewhere.parameters():
            p.add_(0.01 * torch.randn_like(p))  # another training of the same architecture
    weights = save_model(elsewhere, tmp_path / "elsewhere.pt")
    capsys.readouterr()

    assert main(_args(f"model.weights={weights}")) == 0
    assert (
        f"loaded realnvp (model) from {weights} instead of training it" in capsys.readouterr().out
    )
    runs = client.search_runs([exp.experiment_id], order_by=["attributes.start_time DESC"])
    loaded = next(r for r in runs if "weights_from" in r.data.tags)
    assert loaded.data.metrics["epochs_run"] == 0
    logged = load_model(client.download_artifacts(loaded.info.run_id, MODEL_FILE))
    for name, value in logged.state_dict().items():
        assert torch.equal(value, elsewhere.state_dict()[name])
    first, weight = next(logged.named_parameters())
    assert not torch.equal(weight, dict(own.named_parameters())[first])

    assert main(_args()) == 0  # no weights: the spec's own training is reused, not the file
    assert f"reused realnvp (model) from run {trained.info.run_id}" in capsys.readouterr().out


def test_model_weights_of_another_architecture_are_refused_by_name(mlflow_store, tmp_path, capsys):
    from genmodels.persistence import save_model
    from genmodels.registry import get_model_class

    other = get_model_class("realnvp")((3, 16, 16), num_scales=1, hidden_channels=5, num_blocks=1)
    weights = save_model(other, tmp_path / "other.pt")
    assert main(_args(f"model.weights={weights}")) == 2
    err = capsys.readouterr().err
    assert (
        "was built differently (couplings_per_scale: file 3, spec 2, hidden_channels: file 5" in err
    )
    client = MlflowClient(mlflow_store)
    (run,) = [
        r
        for r in client.search_runs([client.get_experiment_by_name("it-colorize").experiment_id])
        if "mlflow.parentRunId" not in r.data.tags
    ]
    assert run.info.status == "FAILED"


def test_conditional_weights_of_another_architecture_are_refused_by_name(
    mlflow_store, tmp_path, capsys
):
    from tasks.colorize.chroma_flow import ChromaFlowModule, ConditionalSpec, save_conditional

    wider = ConditionalSpec(hidden_channels=6, context_channels=4, residual=False)
    other = ChromaFlowModule((16, 16), wider)
    weights = save_conditional(other, tmp_path / "cond.pt")
    assert main(_args(f"task.conditional.weights={weights}")) == 2
    assert "were built differently (hidden_channels: file 6, spec 4" in capsys.readouterr().err
    client = MlflowClient(mlflow_store)
    runs = client.search_runs([client.get_experiment_by_name("it-colorize").experiment_id])
    assert [r.info.status for r in runs] == ["FAILED"]  # refused before anything trained


def test_a_separate_test_source_is_what_gets_colorized(mlflow_store, tmp_path):
    rng = np.random.default_rng(0)
    held = tmp_path / "held.npz"
    np.savez(held, test_images=rng.integers(0, 256, (5, 16, 16, 3), dtype=np.uint8))
    arms = "task.arms=[gray, mean-chroma]"
    assert main(_args(arms, f"data.test={{name: npz, path: {held}}}")) == 0
    client = MlflowClient(mlflow_store)
    (run,) = client.search_runs(
        [client.get_experiment_by_name("it-colorize").experiment_id],
        "tags.task = 'colorize'",
    )
    assert run.data.params["n_test"] == "5"  # the five held-out images, not a carved split
    per_image = pd.read_csv(client.download_artifacts(run.info.run_id, "tables/per_image.csv"))
    truth = per_image[per_image["arm"] == "truth"].sort_values("image")
    images = torch.from_numpy(np.load(held)["test_images"]).permute(0, 3, 1, 2).float() / 255
    assert truth["colourfulness"].to_numpy() == pytest.approx(colourfulness(images).numpy())

"""`benchmarks/train_model_file.py` carves the pipeline's splits and writes a file that a
pipeline's `model.weights` accepts."""

from __future__ import annotations

import hashlib
import json

import pytest
import torch
from mlflow.tracking import MlflowClient

from benchmarks.train_model_file import main
from genmodels.data.spec import load_splits
from genmodels.data.splits import subsample
from genmodels.persistence import load_model
from pipelines.cli import main as cli_main
from pipelines.spec.loading import load_spec
from pipelines.training import _load_weights
from tasks.colorize.chroma_flow import ConditionalSpec, load_conditional


def test_the_file_holds_the_trained_model_and_the_test_split_is_the_pipelines(tmp_path, capsys):
    out = tmp_path / "flow.pt"
    params = '{"num_scales": 1, "hidden_channels": 4, "num_blocks": 1, "couplings_per_scale": 1}'
    args = "--data photos --val-fraction 0.2 --test-fraction 0.3 --split-seed 3 --epochs 1"
    main([*args.split(), "--model", "realnvp", "--params", params, "--out", str(out)])
    printed = capsys.readouterr().out
    spec = load_spec("colorize", ["data.split_seed=3", "data.max_images=null"])
    assert (spec.data.val_fraction, spec.data.test_fraction) == (0.2, 0.3)
    test = load_splits(spec.data)["test"]
    assert f"(hash {hashlib.sha256(test.images.numpy().tobytes()).hexdigest()[:16]})" in printed
    assert "1 epochs, best val bits/dim" in printed and "their gray versions" in printed
    trained = load_model(out)
    assert trained.hparams["hidden_channels"] == 4
    fresh = type(trained)(trained.image_shape, trained.levels, **{
        k: trained.hparams[k] for k in ("num_scales", "hidden_channels", "num_blocks",
                                         "couplings_per_scale")})  # fmt: skip
    _load_weights(fresh, str(out))  # what `model.weights` does: same architecture, so accepted
    for name, value in trained.state_dict().items():
        assert torch.equal(fresh.state_dict()[name], value)


def test_a_conditional_flow_file_replaces_the_arms_training(tmp_path, mlflow_store, capsys):
    """The script writes the colorize conditional flow; `task.conditional.weights` loads it and the
    arm scores the test images with exactly that flow (no training of its own)."""
    out = tmp_path / "cond.pt"
    arch = {"hidden_channels": 4, "context_channels": 4, "num_blocks": 1, "couplings_per_scale": 1,
            "mean_width": 4}  # fmt: skip
    args = "--data photos --val-fraction 0.2 --test-fraction 0.3 --split-seed 0 --epochs 1"
    main([*args.split(), "--model", "colorize-conditional", "--params", json.dumps(arch),
          "--out", str(out)])  # fmt: skip
    printed = capsys.readouterr().out
    assert "test bits/dim of the true chroma given gray" in printed
    # both forms were trained and one kept on validation (residual: choose, the default)
    assert "residual flow" in printed or "plain flow" in printed

    overrides = [f"task.conditional.weights={out}", "output.experiment=it-cond"]
    overrides.append("task.arms=[conditional]")
    sets = [part for o in overrides for part in ("--set", o)]
    assert cli_main(["run", "colorize", "--preset", "tiny", *sets]) == 0
    client = MlflowClient(mlflow_store)
    (run,) = client.search_runs([client.get_experiment_by_name("it-cond").experiment_id])
    assert run.data.tags["conditional_weights_from"] == str(out)
    spec = load_spec("colorize", preset="tiny")
    test = subsample(load_splits(spec.data)["test"], spec.task.test_images, spec.seed).images
    flow = load_conditional(out, ConditionalSpec(**arch), (16, 16))
    with torch.no_grad():
        expected = flow.bits_per_dim(test, dequantize=False).double().mean().item()
    assert run.data.metrics["truth_bpd.conditional"] == pytest.approx(expected, rel=1e-6)

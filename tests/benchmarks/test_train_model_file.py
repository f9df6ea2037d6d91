"""`benchmarks/train_model_file.py` carves the pipeline's splits and writes a file that a
pipeline's `model.weights` accepts."""

from __future__ import annotations

import hashlib

import torch

from benchmarks.train_model_file import main
from genmodels.persistence import load_model
from pipelines.datasets import load_splits
from pipelines.spec_loading import load_spec
from pipelines.stages import _load_weights


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

"""A multi-node launch as a cluster makes it: the same command on every "node" (two processes
here), told its place by ``NODE_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``, with
``num_nodes=2`` in the settings. Both train one model together and end with the same weights,
rank 0's best checkpoint, which only rank 0 wrote."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from genmodels.distributed import global_rank

NODE = """
import json, sys, torch
sys.path.insert(0, {tests!r})
from zoo_params import tiny_params
from genmodels.data.imageset import ImageSet
from genmodels.registry import get_model_class
from genmodels.training import TrainConfig, fit_model, seed_all

g = torch.Generator().manual_seed(0)  # the tiny_images fixture's 40 4x4 images
x = torch.randint(0, 6, (40, 1, 4, 4), generator=g).float()
x[:20, :, 1:3, 1:3] += 10
images = ImageSet((x.clamp(0, 16) / 16), None, levels=17)
seed_all(0)
cls = get_model_class("realnvp")
model = cls(images.image_shape, images.levels, **tiny_params(cls))
with torch.no_grad():
    untrained = float(model.eval().bits_per_dim(images.images).mean())
config = TrainConfig(max_epochs=6, batch_size=4, patience=0, strategy="ddp", num_nodes=2)
fit = fit_model(model, images, images, config, checkpoint_dir={ckpt!r})
with torch.no_grad():
    bpd = float(fit.model.bits_per_dim(images.images).mean())
weights = sum(float(p.double().sum()) for p in fit.model.state_dict().values())
print(json.dumps({{"untrained": untrained, "bpd": bpd, "weights": weights, "epochs": fit.epochs}}))
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_two_nodes_train_one_model_and_end_with_rank_0s_best_weights(tmp_path):
    tests = str(Path(__file__).resolve().parents[1])
    port = str(_free_port())
    procs = []
    for node in (0, 1):
        env = {**os.environ, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": port,
               "NODE_RANK": str(node), "OMP_NUM_THREADS": "1"}  # fmt: skip
        env.pop("LOCAL_RANK", None)
        script = NODE.format(tests=tests, ckpt=str(tmp_path / f"node{node}"))
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", script],
                env=env,
                text=True,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
        )
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-3000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    leader, follower = results
    assert leader["bpd"] < leader["untrained"] - 0.3  # they learned
    assert leader["epochs"] == follower["epochs"] == 6
    assert leader["weights"] == follower["weights"]  # the same model on both nodes
    assert leader["bpd"] == pytest.approx(follower["bpd"], abs=1e-6)
    # only rank 0 writes checkpoints (into its folder, the one Lightning broadcasts)
    assert any((tmp_path / "node0").glob("*.ckpt"))
    assert not (tmp_path / "node1").exists() or not any((tmp_path / "node1").glob("*.ckpt"))


@pytest.mark.parametrize(
    ("env", "devices", "rank"),
    [
        ({}, 1, 0),
        ({"NODE_RANK": "1"}, 1, 1),
        ({"NODE_RANK": "1", "LOCAL_RANK": "1"}, 4, 5),  # Lightning: node x devices + local
        ({"RANK": "3", "NODE_RANK": "0"}, 4, 3),  # torchrun's RANK wins
        ({"SLURM_PROCID": "2"}, 1, 2),
        ({"RANK": ""}, 1, 0),
    ],
)
def test_the_global_rank_comes_from_what_the_launcher_set(env, devices, rank):
    assert global_rank(env, devices) == rank


def test_a_rank_that_is_not_a_number_is_named():
    with pytest.raises(ValueError, match="NODE_RANK='one': a process rank must be a whole number"):
        global_rank({"NODE_RANK": "one"})

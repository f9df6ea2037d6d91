"""Data-parallel training (Lightning DDP, 2 CPU processes over gloo) behaves like one process, so
multi-GPU and multi-node runs take the same code path."""

from __future__ import annotations

import torch
from zoo_params import tiny_params

from genmodels.registry import get_model_class
from genmodels.training import TrainConfig, fit_model, seed_all


def _fresh(shape, levels):
    seed_all(0)
    cls = get_model_class("realnvp")
    return cls(shape, levels, **tiny_params(cls))


def test_two_process_ddp_trains_like_one_process(tiny_images):
    shape, levels = tiny_images.image_shape, tiny_images.levels
    x = tiny_images.images
    with torch.no_grad():
        untrained = float(_fresh(shape, levels).eval().bits_per_dim(x).mean())
    one = fit_model(
        _fresh(shape, levels),
        tiny_images,
        tiny_images,
        TrainConfig(max_epochs=8, batch_size=8, patience=0),
    )
    # two processes with half the batch each: the same effective batch and number of steps
    two = fit_model(
        _fresh(shape, levels),
        tiny_images,
        tiny_images,
        TrainConfig(max_epochs=8, batch_size=4, patience=0, devices=2, strategy="ddp_spawn"),
    )
    with torch.no_grad():
        bpd_one = float(one.model.bits_per_dim(x).mean())
        bpd_two = float(two.model.bits_per_dim(x).mean())
    assert bpd_one < untrained - 0.3 and bpd_two < untrained - 0.3  # both learned
    assert abs(bpd_one - bpd_two) < 0.15 * (untrained - bpd_one)  # and about equally well
    assert two.epochs == one.epochs == 8

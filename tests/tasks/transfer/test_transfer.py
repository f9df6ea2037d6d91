"""Knowledge transfer: students never see test labels, learn what the teacher says, reproduce."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genmodels.data.imageset import ImageSet
from tasks.transfer import TransferSpec, confused_pairs, focused_order, run_transfer

CENTRES = torch.tensor([0.2, 0.45, 0.7])


def _images(brightness: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    noise = 0.08 * torch.randn(len(brightness), 1, 4, 4, generator=g)
    return (brightness.view(-1, 1, 1, 1) + noise).clamp(0, 1)


def _teacher(images: torch.Tensor) -> torch.Tensor:
    """An oracle: the class whose brightness centre is nearest the image's mean."""
    mean = images.flatten(1).mean(1, keepdim=True)
    return torch.softmax(-200 * (mean - CENTRES) ** 2, dim=1)


def _sample(n: int, g: torch.Generator) -> torch.Tensor:
    return _images(0.1 + 0.7 * torch.rand(n, generator=g), g)


@pytest.fixture(scope="module")
def data():
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(3).repeat_interleave(30)
    pool = ImageSet(_images(CENTRES[labels], g), labels, 256)
    test_labels = torch.arange(3).repeat(40)
    return pool, _images(CENTRES[test_labels], g), test_labels


CONFIG = TransferSpec(
    k_real=2,
    ns=(0, 60, 240),
    students=("svc", "kernel-ridge"),
    seeds=(0, 1),
    probe=200,
    sources=("generator",),
)


def _run(data, teacher=_teacher, test_labels=None, config=CONFIG, embed=None):
    pool, test_images, labels = data
    labels = labels if test_labels is None else test_labels
    return run_transfer(
        pool, test_images, labels, 3, teacher, _sample, config, log=lambda _: None, embed=embed
    )[0]


def test_test_labels_only_score_the_students(data):
    rows = _run(data)
    planted = data[2][torch.randperm(len(data[2]), generator=torch.Generator().manual_seed(5))]
    shuffled = _run(data, test_labels=planted)
    # the students are the same (same predictions, so the same agreement with the teacher) ...
    assert rows["agreement"].equals(shuffled["agreement"])
    # ... only the accuracy, computed against the given labels, changes
    assert not rows["accuracy"].equals(shuffled["accuracy"])


def test_students_learn_the_teachers_labels(data):
    rows = _run(data)
    wrong = _run(data, teacher=lambda x: _teacher(x).roll(1, dims=1))  # a planted relabel
    key = ["seed", "student", "mode", "n"]
    a, b = rows.set_index(key), wrong.set_index(key)
    base = a.xs(0, level="n")
    assert np.allclose(base["accuracy"], b.xs(0, level="n")["accuracy"])  # real-only: unchanged
    most = a.xs(240, level="n")["accuracy"]
    assert (b.xs(240, level="n")["accuracy"] < most - 0.2).all()  # fit on what the teacher says
    assert (most >= base["accuracy"]).all()  # and a right teacher helps here


def test_seeds_reproduce_the_rows(data):
    config = TransferSpec(
        k_real=2, ns=(0, 60), students=("svc",), seeds=(3,), probe=100, sources=("generator",)
    )
    first, second = (_run(data, config=config).drop(columns="seconds") for _ in range(2))
    assert first.equals(second)  # everything but the wall time


def test_confused_pairs_and_focused_order():
    student = np.array([0, 1, 1, 2, 2, 2, 0])
    teacher = np.array([0, 2, 2, 1, 0, 2, 1])
    assert confused_pairs(student, teacher, 2) == [(1, 2), (0, 1)]
    soft = torch.tensor(
        [
            [0.5, 0.45, 0.05],
            [0.9, 0.05, 0.05],
            [0.05, 0.5, 0.45],
            [0.4, 0.3, 0.3],
            [0.1, 0.48, 0.42],
        ]
    )
    order = focused_order(soft, [(1, 2)], 4, 0.5, np.random.default_rng(0))
    assert list(order[:2]) == [2, 4]  # the (1, 2) calls first, closest (margin 0.05) first
    assert len(order) == 4 and len(set(order.tolist())) == 4


def test_bad_configs_are_refused():
    with pytest.raises(ValueError, match="include 0"):
        TransferSpec(ns=(100, 200))
    with pytest.raises(ValueError, match="students.0\\s+Input should be 'svc', 'kernel-ridge'"):
        TransferSpec(students=("knn",))


def test_warps_and_mixup_of_the_real_images_are_baselines_in_the_same_table(data):
    """Every source gets the same students and grid; each pool is diagnosed: the oracle teacher
    is sure of warped real images, less of mixtures between classes, and the diagnosis finds the
    set near the real images in the given feature space."""
    from tasks.transfer.sources import mixed_pairs, warped_copies

    config = CONFIG.model_copy(update={"sources": ["generator", "warps", "mixup"]})
    pool, test_images, labels = data
    rows, diagnosis = run_transfer(
        pool, test_images, labels, 3, _teacher, _sample, config, log=lambda _: None,
        embed=lambda images: images.flatten(1).double().numpy(),
    )  # fmt: skip
    assert set(rows["source"]) == {"generator", "warps", "mixup"}
    per_source = rows.groupby("source").size()
    assert per_source.nunique() == 1  # the same students, modes and n for each
    base = rows[rows["n"] == 0].groupby("source")["accuracy"].apply(list)
    assert base["warps"] == base["mixup"] == base["generator"]  # n = 0: the same real student
    diag = diagnosis.groupby("source").mean()
    assert diag.loc["warps", "confidence"] > diag.loc["mixup", "confidence"]
    assert diag.loc["mixup", "entropy"] > diag.loc["warps", "entropy"]
    assert 0.0 <= diag.loc["warps", "class_balance"] <= 1.0
    assert diag.loc["warps", "precision"] > 0.5  # warped real images lie near real ones
    real = pool.images[:6]
    assert warped_copies(real, 10, 0).shape == (10, 1, 4, 4)
    assert torch.equal(mixed_pairs(real, 10, 1), mixed_pairs(real, 10, 1))  # seeded
    mix = mixed_pairs(real, 200, 2)
    assert float(mix.min()) >= float(real.min()) and float(mix.max()) <= float(real.max())


def test_the_generators_gain_over_each_baseline_is_paired_by_seed():
    import pandas as pd

    from tasks.transfer.experiment import paired_gains

    rows = pd.DataFrame(
        [
            {"seed": s, "student": "svc", "source": src, "mode": "random", "n": n, "accuracy": a}
            for s, src, n, a in [
                (0, "generator", 0, 0.5), (0, "generator", 10, 0.80), (0, "warps", 10, 0.70),
                (1, "generator", 0, 0.5), (1, "generator", 10, 0.60), (1, "warps", 10, 0.51),
                (2, "generator", 0, 0.5), (2, "generator", 10, 0.90), (2, "warps", 10, 0.79),
                (0, "warps", 0, 0.5), (1, "warps", 0, 0.5), (2, "warps", 0, 0.5),
            ]
        ]
    )  # fmt: skip
    (row,) = paired_gains(rows).to_dict("records")
    assert row["baseline"] == "warps" and row["n"] == 10 and row["seeds"] == 3
    assert row["gain"] == pytest.approx(0.10)  # (0.10 + 0.09 + 0.11) / 3
    # paired: the seed-to-seed swing (0.60 to 0.90) does not widen the interval
    assert row["ci_low"] > 0 and row["ci_high"] == pytest.approx(0.10 + (0.10 - row["ci_low"]))
    assert paired_gains(rows[rows["source"] == "generator"]).empty


def test_the_uncertain_arm_takes_the_images_the_teacher_is_least_sure_of():
    from tasks.transfer.experiment import uncertain_order

    soft = torch.tensor(
        [[0.98, 0.01, 0.01], [0.34, 0.33, 0.33], [0.9, 0.05, 0.05], [0.5, 0.5, 0.0],
         [0.99, 0.005, 0.005], [0.6, 0.4, 0.0]]
    )  # fmt: skip
    order = uncertain_order(soft, 4, 0.5, np.random.default_rng(0))
    assert list(order[:2]) == [1, 3]  # the two highest entropies first
    assert len(order) == len(set(order.tolist())) == 4  # then two others, none twice
    assert set(order[2:].tolist()) <= {0, 2, 4, 5}


def test_validation_images_score_every_student_apart_from_the_test_images(data):
    """Choices are made on validation accuracy: it is reported beside the test accuracy, from
    the validation labels alone (planted validation labels move it, never the test columns)."""
    pool, test_images, labels = data
    g = torch.Generator().manual_seed(9)
    val_labels = torch.arange(3).repeat(20)
    val = ImageSet(_images(CENTRES[val_labels], g), val_labels, 256)
    run = lambda v: run_transfer(  # noqa: E731
        pool, test_images, labels, 3, _teacher, _sample, CONFIG, log=lambda _: None, val=v
    )[0]
    rows = run(val)
    assert rows["val_accuracy"].between(0, 1).all()
    assert rows["val_accuracy"].max() > 0.8  # the oracle's labels teach the student
    real_only = rows[rows["n"] == 0]
    closed = real_only["val_gap_closed"]  # nan where the student already equals the teacher
    assert ((closed == 0) | closed.isna()).all()
    wrong = run(ImageSet(val.images, (val_labels + 1) % 3, 256))
    assert rows["accuracy"].equals(wrong["accuracy"])
    assert (wrong["val_accuracy"] < rows["val_accuracy"] - 0.5).all()
    assert _run(data)["val_accuracy"].isna().all()  # no validation images, no validation columns


def test_the_pool_source_draws_the_training_images_themselves(data):
    from tasks.transfer.sources import pool_draws

    pool = data[0].images
    drawn = pool_draws(pool, len(pool), 0)
    # without replacement while the pool lasts: every training image once
    assert sorted(map(bytes, drawn.numpy())) == sorted(map(bytes, pool.numpy()))
    twice = pool_draws(pool, 2 * len(pool) + 3, 0)
    assert len(twice) == 2 * len(pool) + 3 and torch.equal(twice[: len(pool)], drawn)
    config = CONFIG.model_copy(update={"sources": ["generator", "pool"]})
    rows, _ = run_transfer(
        data[0], data[1], data[2], 3, _teacher, _sample, config, log=lambda _: None
    )
    assert set(rows["source"]) == {"generator", "pool"}


def test_generator_and_warps_share_the_candidates_half_and_half():
    from tasks.transfer.experiment import _candidates

    real = torch.zeros(6, 1, 4, 4)  # warps of black images stay black
    ones = lambda n, g: torch.ones(n, 1, 4, 4)  # noqa: E731  the "generator"
    both = _candidates("generator-and-warps", 11, real, real, ones, torch.Generator(), seed=0)
    generated = both.flatten(1).mean(1) == 1
    assert len(both) == 11 and int(generated.sum()) == 6  # n - n // 2 generated, the rest warps
    assert not generated[:6].all()  # shuffled together, not one block after the other
    again = _candidates("generator-and-warps", 11, real, real, ones, torch.Generator(), seed=0)
    assert torch.equal(both, again)


def test_the_moves_source_moves_the_real_images_with_the_generator_it_is_given(data):
    from tasks.transfer.experiment import _candidates

    real = torch.full((4, 1, 4, 4), 0.25)
    calls = []

    def move(anchors, n, generator):
        calls.append(anchors)
        return anchors[:1].expand(n, -1, -1, -1) + 0.5

    out = _candidates("moves", 7, real, real, _sample, torch.Generator(), 0, move)
    assert len(out) == 7 and torch.allclose(out, torch.full_like(out, 0.75))
    assert calls and calls[0] is real  # the student's own real images are the anchors
    with pytest.raises(ValueError, match="encoder and a decoder"):
        _candidates("moves", 7, real, real, _sample, torch.Generator(), 0)
    config = CONFIG.model_copy(update={"sources": ["generator", "warps", "moves"]})
    rows, _ = run_transfer(
        data[0], data[1], data[2], 3, _teacher, _sample, config, log=lambda _: None,
        move=lambda anchors, n, g: anchors[torch.arange(n) % len(anchors)],
    )  # fmt: skip
    assert set(rows["source"]) == {"generator", "warps", "moves"}
    moved = rows[(rows["source"] == "moves") & (rows["n"] > 0)]
    assert len(moved) and moved["accuracy"].between(0, 1).all()


def test_the_moves_source_needs_a_model_with_codes():
    from genmodels.errors import CapabilityError
    from genmodels.registry import get_model_class

    spec = TransferSpec(sources=["generator", "moves"])
    with pytest.raises(CapabilityError, match="encoder and a decoder"):
        spec.check_model(get_model_class("gmm"))
    spec.check_model(get_model_class("vae"))


def test_the_balanced_order_takes_the_teachers_classes_in_turn():
    from tasks.transfer.experiment import class_balanced

    labels = [0, 0, 0, 0, 0, 0, 1, 1, 2]  # class 0 is two thirds of the candidates
    soft = torch.eye(3)[labels]
    order = np.array([8, 0, 1, 6, 2, 3, 7, 4, 5])
    balanced = class_balanced(order, soft)
    assert sorted(balanced.tolist()) == list(range(9))  # a rearrangement
    assert [labels[i] for i in balanced[:3]] == [0, 1, 2]  # one of each first
    assert [labels[i] for i in balanced[3:5]] == [0, 1]  # then class 2 has run out
    # within a class, the random order is kept
    assert [i for i in balanced if labels[i] == 0] == [0, 1, 2, 3, 4, 5]
    assert [i for i in balanced if labels[i] == 1] == [6, 7]

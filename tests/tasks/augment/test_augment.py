"""The augmentation protocol: k-shot draws, no test leakage, seeded numbers, clear refusals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from zoo_params import tiny_params

import tasks.augment.draw as draw_module
from genmodels.data.imageset import ImageSet
from genmodels.errors import CapabilityError, DataError
from genmodels.registry import get_model_class
from genmodels.training import TrainConfig, fit_model, seed_all
from tasks.augment import ARMS, AugmentSpec, run_augment, summarize
from tasks.classifier import ClassifierSpec
from tasks.fewshot import draw_few_shot
from tasks.generate import generate_labelled

TINY_CLASSIFIER = ClassifierSpec(max_epochs=3, batch_size=16, patience=0, width=4)


def _pool(n_per_class: int = 12, classes: int = 3, seed: int = 0) -> ImageSet:
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(classes).repeat_interleave(n_per_class)
    x = torch.rand(len(labels), 1, 6, 6, generator=g) * 0.3
    for c in range(classes):  # each class lights up its own row band
        x[labels == c, :, 2 * c : 2 * c + 2] += 0.6
    return ImageSet(torch.round(x.clamp(0, 1) * 16) / 16, labels, levels=17)


def test_k_shot_draw_is_stratified_disjoint_and_seeded():
    pool = _pool()
    few = draw_few_shot(pool, 5, seed=3)
    assert torch.bincount(few.fit.labels).tolist() == [4, 4, 4]
    assert torch.bincount(few.val.labels).tolist() == [1, 1, 1]
    fit_rows = {tuple(r.flatten().tolist()) for r in few.fit.images}
    assert not fit_rows & {tuple(r.flatten().tolist()) for r in few.val.images}
    again = draw_few_shot(pool, 5, seed=3)
    assert torch.equal(again.fit.images, few.fit.images)
    other = draw_few_shot(pool, 5, seed=4)
    assert not torch.equal(other.fit.images, few.fit.images)
    with pytest.raises(DataError, match="class 0 has 12 labelled images; k=13"):
        draw_few_shot(pool, 13, seed=0)


def _tiny_generator(name: str):
    def fit(train: ImageSet, val: ImageSet, seed: int):
        seed_all(seed)
        cls = get_model_class(name)
        model = cls(train.image_shape, train.levels, **{**tiny_params(cls), "num_classes": 3})
        fit_model(model, train, val, TrainConfig(max_epochs=1, batch_size=8, patience=0), seed=seed)
        return model

    return fit


def _spy_on_training(monkeypatch) -> list[dict[str, object]]:
    """Every classifier the experiment trains, in order: its training and validation sets, the
    weights it started from, its warps (``augmented``) and the trained model."""
    calls: list[dict[str, object]] = []
    original_train = draw_module.train_classifier

    def spy_train(train, val, *args, init=None, **kwargs):
        model = original_train(train, val, *args, init=init, **kwargs)
        calls.append(
            {"train": train, "val": val, "init": init, "model": model, "augmented": args[3:4]}
        )
        return model

    monkeypatch.setattr(draw_module, "train_classifier", spy_train)
    return calls


def test_test_images_never_reach_the_generator_or_any_classifier(monkeypatch):
    pool, test = _pool(seed=0), _pool(n_per_class=4, seed=1)
    marker = torch.zeros(1, 6, 6)
    marker[0, ::2, ::2] = 1.0  # a checkerboard no pool image has
    test.images[5] = marker
    seen: list[torch.Tensor] = []
    original_train = draw_module.train_classifier

    def spy_train(train, val, *args, **kwargs):
        seen.extend([train.images, val.images])
        return original_train(train, val, *args, **kwargs)

    fit_gen = _tiny_generator("vae-cond")

    def spy_fit(train, val, seed):
        seen.extend([train.images, val.images])
        return fit_gen(train, val, seed)

    monkeypatch.setattr(draw_module, "train_classifier", spy_train)
    config = AugmentSpec(ks=(4,), seeds=(0,), generator_copies=2, classifier=TINY_CLASSIFIER)
    rows = run_augment(pool, test, 3, spy_fit, config, log=lambda _: None)
    assert set(rows["arm"]) == set(ARMS)
    # 9 classifier fits (the filter kept nothing from the tiny generator, so that arm reuses the
    # real classifier; each pretrain arm fits twice) + 3 folds x 3 fits (classic; pretrain and
    # fine-tune) of the cross-validated arm + the generator
    assert len(seen) == 2 * 19
    for images in seen:
        assert not (images == marker).flatten(1).all(1).any()
    # the cross-validated arm is exactly the arm its draw chose, scored on the same test split
    by_arm = rows.set_index("arm")
    chosen = by_arm.loc["real+classic+gen-pretrain-cv"]
    assert chosen["chosen"] in ("real+classic", "real+classic+gen-pretrain")
    assert chosen["accuracy"] == by_arm.loc[chosen["chosen"], "accuracy"]
    for score in (chosen["cv_accuracy_classic"], chosen["cv_accuracy_pretrain"]):
        assert 0.0 <= score <= 1.0


def test_same_seeds_give_the_same_numbers():
    pool, test = _pool(), _pool(n_per_class=4, seed=1)
    config = AugmentSpec(
        ks=(4,), seeds=(0, 1), arms=("real", "real+gen"), classifier=TINY_CLASSIFIER
    )
    a = run_augment(pool, test, 3, _tiny_generator("vae-cond"), config, log=lambda _: None)
    b = run_augment(pool, test, 3, _tiny_generator("vae-cond"), config, log=lambda _: None)
    assert np.array_equal(a["accuracy"].to_numpy(), b["accuracy"].to_numpy())
    assert (a["n_generated"][a["arm"] == "real+gen"] == 9).all()  # multiplier 1: 3 per class
    # each draw's fingerprint: one per seed, the same for its arms and in the second run
    assert a.groupby("seed")["draw"].nunique().tolist() == [1, 1]
    assert a["draw"].nunique() == 2 and a["draw"].equals(b["draw"])
    summary = summarize(a)
    real = a[a["arm"] == "real"].set_index("seed")["accuracy"]
    gen = a[a["arm"] == "real+gen"].set_index("seed")["accuracy"]
    row = summary.set_index("arm").loc["real+gen"]
    assert row["gain"] == pytest.approx((gen - real).mean())
    assert row["ci_low"] <= row["mean"] <= row["ci_high"]


def test_an_unconditional_model_without_a_labeller_is_refused():
    cls = get_model_class("vae")
    model = cls((1, 6, 6), 17, **tiny_params(cls))
    g = torch.Generator().manual_seed(0)
    with pytest.raises(CapabilityError, match="'vae' is unconditional.*give it a labeller"):
        generate_labelled(model, 2, 3, g, labeller=None)
    # with a labeller its samples get the labeller's classes
    out = generate_labelled(model, 2, 3, g, labeller=lambda x: torch.eye(3)[[1] * len(x)])
    assert out.labels.tolist() == [1] * 6


def test_quality_filter_keeps_only_confident_samples():
    cls = get_model_class("vae-cond")
    model = cls((1, 6, 6), 17, **{**tiny_params(cls), "num_classes": 3})
    confident_for_zero = lambda x: torch.eye(3)[[0] * len(x)]  # noqa: E731
    g = torch.Generator().manual_seed(0)
    out = generate_labelled(model, 4, 3, g, confident_for_zero, filter_threshold=0.9)
    assert out.labels.tolist() == [0] * 4 and out.kept_fraction == pytest.approx(1 / 3)


def test_unknown_arm_is_refused_with_the_valid_ones():
    with pytest.raises(ValueError, match=r"arms\.1\s+Input should be 'real', 'real\+gen'"):
        AugmentSpec(arms=("real", "mixup"))


def test_generator_copies_enlarge_only_the_generators_training_set(monkeypatch):
    pool, test = _pool(), _pool(n_per_class=4, seed=1)
    sizes: dict[str, list[int]] = {"generator": [], "classifier": []}
    fit_gen = _tiny_generator("vae-cond")
    original_train = draw_module.train_classifier

    def spy_fit(train, val, seed):
        sizes["generator"].append(len(train))
        assert torch.bincount(train.labels).tolist() == [9, 9, 9]  # 3 real + 6 warped per class
        return fit_gen(train, val, seed)

    def spy_train(train, val, *args, **kwargs):
        sizes["classifier"].append(len(train))
        return original_train(train, val, *args, **kwargs)

    monkeypatch.setattr(draw_module, "train_classifier", spy_train)
    config = AugmentSpec(
        ks=(4,), seeds=(0,), arms=("real", "real+gen"), generator_copies=2,
        classifier=TINY_CLASSIFIER,
    )  # fmt: skip
    run_augment(pool, test, 3, spy_fit, config, log=lambda _: None)
    assert sizes == {"generator": [27], "classifier": [9, 18]}  # real 9; real 9 + generated 9
    with pytest.raises(
        ValueError, match=r"generator_copies\s+Input should be greater than or equal to 0"
    ):
        AugmentSpec(generator_copies=-1)


def test_pretrain_arm_trains_on_generated_images_then_fine_tunes_on_the_real_ones(monkeypatch):
    pool, test = _pool(), _pool(n_per_class=4, seed=1)
    calls = _spy_on_training(monkeypatch)
    config = AugmentSpec(
        ks=(4,), seeds=(0,), arms=("real", "real+classic+gen-pretrain"), pretrain_multiplier=5,
        classifier=TINY_CLASSIFIER,
    )  # fmt: skip
    rows = run_augment(pool, test, 3, _tiny_generator("vae-cond"), config, log=lambda _: None)
    real, pretrain, finetune = calls
    few = draw_few_shot(pool, 4, seed=0)
    assert real["init"] is None and torch.equal(real["train"].images, few.fit.images)
    # pretraining: generated images only, 5 x 9 of them, 15 per class, none of them real
    synthetic = pretrain["train"]
    assert pretrain["init"] is None and torch.bincount(synthetic.labels).tolist() == [15, 15, 15]
    real_rows = {tuple(r.flatten().tolist()) for r in pool.images}
    assert not real_rows & {tuple(r.flatten().tolist()) for r in synthetic.images}
    # fine-tuning: the real k-shot images, from the pretrained weights, both with classic warps
    assert finetune["init"] is pretrain["model"]
    assert torch.equal(finetune["train"].images, few.fit.images)
    assert pretrain["augmented"][0] is not None and finetune["augmented"][0] is not None
    row = rows.set_index("arm").loc["real+classic+gen-pretrain"]
    assert row["n_real"] == 9 and row["n_generated"] == 45
    with pytest.raises(ValueError, match=r"pretrain_multiplier\s+Input should be greater than 0"):
        AugmentSpec(pretrain_multiplier=0)


def test_pseudo_label_arm_pretrains_on_unlabelled_pool_images_named_by_the_real_classifier(
    monkeypatch,
):
    pool, test = _pool(), _pool(n_per_class=4, seed=1)
    calls = _spy_on_training(monkeypatch)

    def no_generator(*args):
        raise AssertionError("the pseudo-label arm fits no generator")

    config = AugmentSpec(
        ks=(4,), seeds=(0,), arms=("real", "real+classic+pseudo-pretrain"),
        pretrain_multiplier=2, classifier=TINY_CLASSIFIER,
    )  # fmt: skip
    rows = run_augment(pool, test, 3, no_generator, config, log=lambda _: None)
    real, pretrain, finetune = calls
    pseudo = pretrain["train"]
    # 2 x 9 pool images (real ones, from the training pool only), labelled by the real classifier
    assert len(pseudo) == 18 and pretrain["init"] is None
    pool_rows = {tuple(r.flatten().tolist()) for r in pool.images}
    assert {tuple(r.flatten().tolist()) for r in pseudo.images} <= pool_rows
    named = draw_module.predict_proba(real["model"], pseudo.images).argmax(dim=1)
    assert torch.equal(pseudo.labels, named)
    assert finetune["init"] is pretrain["model"]
    assert set(rows["arm"]) == {"real", "real+classic+pseudo-pretrain"}
    assert (rows["generator_seconds"] == 0).all()


def test_fine_tuning_starts_from_the_given_weights_and_leaves_them_untouched():
    pool = _pool()
    few = draw_few_shot(pool, 6, seed=0)
    trained = draw_module.train_classifier(few.fit, few.val, 3, TINY_CLASSIFIER, seed=0)
    before = {k: v.clone() for k, v in trained.state_dict().items()}
    frozen = ClassifierSpec(max_epochs=1, batch_size=16, patience=0, width=4, lr=1e-12)
    tuned = draw_module.train_classifier(few.fit, few.val, 3, frozen, seed=1, init=trained)
    fresh = draw_module.train_classifier(few.fit, few.val, 3, frozen, seed=1)
    weight = "net.head.weight"
    # with a vanishing learning rate the tuned weights are the initial ones, not a fresh draw
    assert torch.allclose(tuned.state_dict()[weight], before[weight], atol=1e-6)
    assert not torch.allclose(fresh.state_dict()[weight], before[weight], atol=1e-3)
    assert all(torch.equal(v, before[k]) for k, v in trained.state_dict().items())


def test_summary_pairs_each_arm_with_real_and_with_classic_augmentation():
    acc = {"real": [0.5, 0.6], "real+classic": [0.6, 0.8], "real+classic+gen-pretrain": [0.7, 0.9]}
    rows = pd.DataFrame(
        [
            {"k": 10, "seed": seed, "arm": arm, "accuracy": a}
            for arm, values in acc.items()
            for seed, a in enumerate(values)
        ]
    )
    summary = summarize(rows).set_index("arm")
    pretrain = summary.loc["real+classic+gen-pretrain"]
    assert pretrain["gain"] == pytest.approx(0.25)
    assert pretrain["gain_vs_classic"] == pytest.approx(0.1)
    # both seeds gain exactly 0.1 over classic: a zero-width interval
    assert pretrain["gain_vs_classic_ci_low"] == pytest.approx(0.1)
    assert summary.loc["real+classic", "gain"] == pytest.approx(0.15)
    assert pd.isna(summary.loc["real+classic", "gain_vs_classic"])
    assert pd.isna(summary.loc["real", "gain"])


def test_an_unconditional_models_draws_come_from_a_given_sampler():
    cls = get_model_class("vae")
    model = cls((1, 6, 6), 17, **tiny_params(cls))
    half = lambda n, g: torch.full((n, 1, 6, 6), 0.5)  # noqa: E731
    out = generate_labelled(
        model, 3, 3, torch.Generator(), labeller=lambda x: torch.eye(3)[[2] * len(x)],
        sampler=half,
    )  # fmt: skip
    assert len(out.images) == 9 and bool((out.images == 0.5).all())
    assert out.labels.tolist() == [2] * 9  # the labeller still names them


@pytest.mark.parametrize("sampling", ["latent-mixture", "class-interpolation", "class-detail"])
def test_latent_sampling_is_refused_for_models_without_codes(sampling):
    spec = AugmentSpec(sampling=sampling, generator_data="unlabelled-pool")
    with pytest.raises(CapabilityError, match="encoder and a decoder"):
        spec.check_model(get_model_class("realnvp"))
    spec.check_model(get_model_class("vae"))  # an unconditional VAE has them


def test_the_cross_validated_arm_rebuilds_the_pretrain_arm_from_each_folds_images_alone(
    monkeypatch,
):
    pool, test = _pool(), _pool(n_per_class=4, seed=1)
    calls = _spy_on_training(monkeypatch)
    cls = get_model_class("vae")
    unconditional = cls((1, 6, 6), 17, **tiny_params(cls))  # its samples need a labeller
    config = AugmentSpec(
        ks=(6,), seeds=(0,), arms=("real", "real+classic+gen-pretrain-cv"), pretrain_multiplier=2,
        classifier=TINY_CLASSIFIER,
    )  # fmt: skip
    run_augment(pool, test, 3, lambda *_: unconditional, config, log=lambda _: None)
    # real, classic, pretrain + fine-tune; then per fold classic, and labeller + pretrain +
    # fine-tune for the pretrain candidate
    assert len(calls) == 4 + 3 + 3 * 3
    few = draw_few_shot(pool, 6, seed=0)
    labelled = {tuple(r.flatten().tolist()) for r in torch.cat([few.fit.images, few.val.images])}
    held_out: set[tuple[float, ...]] = set()
    for labeller, pretrain, finetune in (calls[7 + 3 * f : 10 + 3 * f] for f in range(3)):
        both = torch.cat([labeller["train"].images, labeller["val"].images])
        seen = {tuple(r.flatten().tolist()) for r in both}
        assert seen < labelled and len(seen) == 12  # two of the three folds
        held_out |= labelled - seen
        # the generated images are named by this fold's labeller, not by the draw's classifier
        named = draw_module.predict_proba(labeller["model"], pretrain["train"].images).argmax(1)
        assert torch.equal(pretrain["train"].labels, named)
        assert pretrain["init"] is None and finetune["init"] is pretrain["model"]
        assert torch.equal(finetune["train"].images, labeller["train"].images)
    assert held_out == labelled  # every labelled image was held out by some fold


@pytest.mark.parametrize("sampling", ["class-interpolation", "class-detail"])
def test_class_interpolation_labels_samples_by_the_images_it_draws_between(monkeypatch, sampling):
    pool, test = _pool(), _pool(n_per_class=4, seed=1)
    calls = _spy_on_training(monkeypatch)
    given: list[tuple[torch.Tensor, torch.Tensor]] = []
    original = draw_module.class_interpolation_sampler

    def spy(model, images, labels, keep_detail):
        assert keep_detail == (sampling == "class-detail")
        given.append((images, labels))
        return original(model, images, labels, keep_detail=keep_detail)

    monkeypatch.setattr(draw_module, "class_interpolation_sampler", spy)
    cls = get_model_class("vae")
    unconditional = cls((1, 6, 6), 17, **tiny_params(cls))
    config = AugmentSpec(
        ks=(6,), seeds=(0,), arms=("real", "real+classic+gen-pretrain-cv"), pretrain_multiplier=2,
        sampling=sampling, classifier=TINY_CLASSIFIER,
    )  # fmt: skip
    run_augment(pool, test, 3, lambda *_: unconditional, config, log=lambda _: None)
    # real, classic, pretrain + fine-tune; then classic in each fold, then pretrain + fine-tune
    # in each fold: no classifier is trained to name the samples
    assert len(calls) == 4 + 3 + 3 * 2
    few = draw_few_shot(pool, 6, seed=0)
    assert torch.equal(given[0][0], few.fit.images)  # the draw's arms: its fit images
    assert torch.bincount(calls[2]["train"].labels).tolist() == [10, 10, 10]  # cycled classes
    labelled = {tuple(r.flatten().tolist()) for r in torch.cat([few.fit.images, few.val.images])}
    for fold, (images, labels) in enumerate(given[1:]):  # each fold: its own fit images only
        pretrain, finetune = calls[7 + 2 * fold], calls[8 + 2 * fold]
        assert torch.equal(images, finetune["train"].images)
        assert torch.equal(labels, finetune["train"].labels)
        assert {tuple(r.flatten().tolist()) for r in images} < labelled
        assert pretrain["init"] is None and finetune["init"] is pretrain["model"]
    assert len(given) == 1 + 3  # the draw's sampler is built once, then one per fold


def test_class_sampled_draws_need_no_labeller():
    cls = get_model_class("vae")
    model = cls((1, 6, 6), 17, **tiny_params(cls))
    by_class = lambda wanted, g: wanted.float()[:, None, None, None].expand(-1, 1, 6, 6) / 4  # noqa: E731
    out = generate_labelled(model, 2, 3, torch.Generator(), class_sampler=by_class)
    assert out.labels.tolist() == [0, 1, 2, 0, 1, 2]
    assert torch.equal(out.images[:, 0, 0, 0], out.labels.float() / 4)  # drawn for its class

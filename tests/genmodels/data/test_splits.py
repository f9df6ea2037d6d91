import numpy as np
import pytest
import torch

from genmodels.data import carve_splits, ensure_splits, load_dataset
from genmodels.data.spec import DataSpec, load_splits
from genmodels.errors import DataError


def test_unsplit_data_gets_disjoint_stratified_seeded_splits():
    splits = ensure_splits(load_dataset("digits"), 0.2, 0.3, seed=0)
    ids = [set(splits[k].ids) for k in ("train", "val", "test")]
    assert not (ids[0] & ids[1]) and not (ids[0] & ids[2]) and not (ids[1] & ids[2])
    assert sum(len(i) for i in ids) == 1797
    assert len(splits["test"]) == pytest.approx(0.3 * 1797, abs=2)
    # stratified: every class keeps roughly its share in the test split
    share = np.bincount(splits["test"].labels.numpy()) / len(splits["test"])
    assert np.all(np.abs(share - 0.1) < 0.02)
    again = ensure_splits(load_dataset("digits"), 0.2, 0.3, seed=0)
    assert again["val"].ids == splits["val"].ids
    other = ensure_splits(load_dataset("digits"), 0.2, 0.3, seed=1)
    assert other["val"].ids != splits["val"].ids


def test_official_splits_are_kept_and_val_carved_from_train(tiny_images):
    splits = ensure_splits({"train": tiny_images, "test": tiny_images}, 0.25, 0.3, seed=0)
    assert len(splits["train"]) == 30 and len(splits["val"]) == 10
    assert splits["test"] is tiny_images


def test_bad_fraction_is_refused(tiny_images):
    with pytest.raises(DataError, match="val_fraction"):
        ensure_splits({"all": tiny_images}, 1.5, 0.3, seed=0)


def test_carved_splits_are_capped_subsets_of_the_uncapped_ones():
    full = ensure_splits(load_dataset("digits"), 0.2, 0.3, seed=0)
    capped = carve_splits(load_dataset("digits"), 0.2, 0.3, seed=0, max_images=100)
    for name in ("train", "val", "test"):
        assert len(capped[name]) == 100 < len(full[name])
        assert set(capped[name].ids) <= set(full[name].ids)  # a cap never moves an image
    uncapped = carve_splits(load_dataset("digits"), 0.2, 0.3, seed=0)
    assert uncapped["test"].ids == full["test"].ids


def test_a_lone_training_split_is_carved_into_all_three(tiny_images):
    splits = ensure_splits({"train": tiny_images}, 0.25, 0.25, seed=0)
    ids = [set(splits[k].ids) for k in ("train", "val", "test")]
    assert [len(i) for i in ids] == [20, 10, 10] and not (ids[0] & ids[1] | ids[0] & ids[2])
    assert set().union(*ids) == set(tiny_images.ids)
    kept_val = ensure_splits({"train": tiny_images, "val": tiny_images}, 0.25, 0.25, seed=0)
    assert kept_val["val"] is tiny_images and len(kept_val["test"]) == 10
    with pytest.raises(DataError, match="need a 'train' split \\(or 'all'\\); got test"):
        ensure_splits({"test": tiny_images}, 0.2, 0.3, seed=0)
    with pytest.raises(DataError, match="leave nothing to train on"):
        ensure_splits({"train": tiny_images}, 0.6, 0.5, seed=0)


def test_too_few_images_to_split_are_refused_by_count(tiny_images):
    one = tiny_images.subset([0])  # found by the fuzz tests: scikit-learn's ValueError leaked
    with pytest.raises(DataError, match=r"1 image\(s\) cannot be split 0 / 1"):
        ensure_splits({"train": one}, 0.2, 0.3, seed=0)
    two = tiny_images.subset([0, 1])
    with pytest.raises(DataError, match="every split needs at least one image"):
        ensure_splits({"all": two}, 0.2, 0.3, seed=0)


def _npz(path, splits: dict[str, int], shape=(8, 8), seed=0):
    rng = np.random.default_rng(seed)
    arrays = {}
    for name, n in splits.items():
        arrays[f"{name}_images"] = rng.integers(0, 256, (n, *shape), dtype=np.uint8)
        arrays[f"{name}_labels"] = rng.integers(0, 2, n)
    np.savez(path, **arrays)
    return str(path)


def test_a_separate_test_source_replaces_the_carved_test_split(tmp_path):
    main = _npz(tmp_path / "main.npz", {"train": 40, "test": 30})
    held = _npz(tmp_path / "held.npz", {"train": 12}, seed=1)
    plain = load_splits(DataSpec(name="npz", path=main))
    splits = load_splits(DataSpec(name="npz", path=main, test={"name": "npz", "path": held}))
    assert len(splits["test"]) == 12  # all of the held-out source (it has no test split)
    held_images = torch.from_numpy(np.load(held)["train_images"]).float() / 255
    assert torch.equal(splits["test"].images[:, 0], held_images)
    # the main source's own test split is not used; val is carved from its train split alone
    assert len(splits["train"]) + len(splits["val"]) == 40
    assert torch.equal(splits["train"].images, plain["train"].images)
    # a source with a test split gives that split
    both = _npz(tmp_path / "both.npz", {"train": 5, "test": 7}, seed=2)
    with_test = load_splits(DataSpec(name="npz", path=main, test={"name": "npz", "path": both}))
    assert len(with_test["test"]) == 7


def test_a_test_source_of_another_shape_is_refused_naming_both_unless_resized(tmp_path):
    main = _npz(tmp_path / "main.npz", {"train": 40})
    big = _npz(tmp_path / "big.npz", {"train": 6}, shape=(12, 12))
    spec = DataSpec(name="npz", path=main, test={"name": "npz", "path": big})
    with pytest.raises(DataError, match=r"shape \[1, 12, 12\], the training images \[1, 8, 8\]"):
        load_splits(spec)
    resized = DataSpec(
        name="npz", path=main, test={"name": "npz", "path": big, "image_size": [8, 8]}
    )
    assert load_splits(resized)["test"].image_shape == (1, 8, 8)
    with pytest.raises(ValueError, match="unknown dataset 'nope'"):
        DataSpec(name="npz", path=main, test={"name": "nope"})

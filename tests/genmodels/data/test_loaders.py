"""Loaders: shapes, ranges and levels of every named data set, and clear errors on bad input."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from genmodels.data import DATASETS, load_dataset
from genmodels.errors import DataError, UnknownNameError


def test_digits_are_embedded_8x8_with_17_levels():
    splits = load_dataset("digits")
    ims = splits["all"]
    assert len(ims) == 1797 and ims.image_shape == (1, 8, 8)
    assert ims.levels == 17
    assert float(ims.images.min()) == 0.0 and float(ims.images.max()) == 1.0
    assert np.allclose(ims.images.numpy() * 16, np.round(ims.images.numpy() * 16))
    assert sorted(set(ims.labels.tolist())) == list(range(10))


def test_usps_from_shared_data(shared_data):
    splits = load_dataset("usps", shared_data / "digits" / "usps.npz")
    assert len(splits["train"]) == 7291 and len(splits["test"]) == 2007
    assert splits["train"].image_shape == (1, 16, 16)
    assert float(splits["train"].images.min()) >= 0.0 and float(splits["train"].images.max()) <= 1.0


def test_pneumoniamnist_official_splits(shared_data):
    splits = load_dataset("pneumoniamnist", shared_data / "medical" / "pneumoniamnist.npz")
    assert {k: len(v) for k, v in splits.items()} == {"train": 4708, "val": 524, "test": 624}
    assert splits["train"].levels == 256
    assert int((splits["train"].labels == 0).sum()) == 1214
    assert splits["test"].class_names == ("normal", "pneumonia")


def test_unknown_dataset_lists_valid_names():
    with pytest.raises(UnknownNameError, match="valid datasets: .*digits"):
        load_dataset("mnist")
    assert "digits" in DATASETS


def test_file_dataset_without_path_is_refused():
    with pytest.raises(DataError, match="needs a path"):
        load_dataset("usps")


def test_missing_npz_names_the_file(tmp_path):
    with pytest.raises(DataError, match="nope.npz: file not found"):
        load_dataset("npz", tmp_path / "nope.npz")


def test_npz_without_image_keys_lists_found_keys(tmp_path):
    np.savez(tmp_path / "x.npz", pictures=np.zeros((2, 4, 4), np.uint8))
    with pytest.raises(DataError, match="keys found: pictures"):
        load_dataset("npz", tmp_path / "x.npz")


def test_npz_with_nan_is_refused(tmp_path):
    images = np.zeros((3, 4, 4), np.float32)
    images[1, 2, 2] = np.nan
    np.savez(tmp_path / "x.npz", train_images=images, train_labels=np.zeros(3))
    with pytest.raises(DataError, match="1 image\\(s\\) contain NaN or Inf"):
        load_dataset("npz", tmp_path / "x.npz")


def test_npz_float_out_of_range_is_refused(tmp_path):
    np.savez(tmp_path / "x.npz", train_images=np.full((2, 4, 4), 3.0, np.float32))
    with pytest.raises(DataError, match=r"must lie in \[0, 1\]"):
        load_dataset("npz", tmp_path / "x.npz")


def test_not_an_npz_is_refused(tmp_path):
    (tmp_path / "x.npz").write_text("hello")
    with pytest.raises(DataError, match="not a readable .npz"):
        load_dataset("npz", tmp_path / "x.npz")


def test_npz_uint8_nhwc_rgb_becomes_nchw(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (5, 6, 6, 3), dtype=np.uint8)
    np.savez(tmp_path / "x.npz", train_images=images, train_labels=np.arange(5))
    ims = load_dataset("npz", tmp_path / "x.npz")["train"]
    assert ims.image_shape == (3, 6, 6)
    assert np.allclose(ims.images[2, 1].numpy(), images[2, :, :, 1] / 255.0)


def _write_png(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def test_folder_with_class_subfolders(tmp_path):
    rng = np.random.default_rng(0)
    for cls in ("cat", "dog"):
        for i in range(3):
            _write_png(tmp_path / cls / f"{i}.png", rng.integers(0, 256, (8, 8), dtype=np.uint8))
    ims = load_dataset("folder", tmp_path)["all"]
    assert ims.image_shape == (1, 8, 8) and len(ims) == 6
    assert ims.class_names == ("cat", "dog")
    assert ims.labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert ims.ids[3] == "dog/0.png"


def test_folder_16bit_png_keeps_its_range(tmp_path):
    arr = np.array([[0, 65535], [1000, 30000]], dtype=np.uint16)
    _write_png(tmp_path / "a.png", arr)
    ims = load_dataset("folder", tmp_path)["all"]
    assert ims.levels == 65536
    assert float(ims.images.max()) == pytest.approx(1.0)
    assert float(ims.images[0, 0, 1, 0]) == pytest.approx(1000 / 65535)


def test_empty_folder_is_refused(tmp_path):
    with pytest.raises(DataError, match="no images"):
        load_dataset("folder", tmp_path)


def test_corrupt_image_names_the_file(tmp_path):
    _write_png(tmp_path / "ok.png", np.zeros((4, 4), np.uint8))
    (tmp_path / "zz_broken.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(DataError, match="zz_broken.png: corrupt or unreadable"):
        load_dataset("folder", tmp_path)


def test_wrong_channel_file_names_the_file(tmp_path):
    _write_png(tmp_path / "a.png", np.zeros((4, 4), np.uint8))
    _write_png(tmp_path / "b.png", np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(DataError, match="b.png: channel count differs"):
        load_dataset("folder", tmp_path)


def test_mixed_sizes_name_the_file(tmp_path):
    _write_png(tmp_path / "a.png", np.zeros((4, 4), np.uint8))
    _write_png(tmp_path / "b.png", np.zeros((5, 4), np.uint8))
    with pytest.raises(DataError, match="b.png: size differs"):
        load_dataset("folder", tmp_path)


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (np.array([0, -1, 2, 1]), "labels must be class indices from 0 to 99999, found -1 to 2"),
        (np.array([0, 1, 10**9, 1]), "labels must be class indices .* found 0 to 1000000000"),
        (np.array([0.0, 0.5, 1.0, 1.0]), r"labels must be whole class numbers, got \[0.5\]"),
        (np.array(["a", "b", "a", "b"]), "labels must be integers, got <U1 values"),
    ],
)
def test_labels_that_are_not_class_indices_are_refused_by_file(tmp_path, labels, message):
    path = tmp_path / "bad.npz"
    np.savez(path, train_images=np.zeros((4, 4, 4), np.uint8), train_labels=labels)
    with pytest.raises(DataError, match=rf"bad.npz\[train\]: {message}"):
        load_dataset("npz", path)


def test_whole_float_labels_are_kept_and_object_arrays_refused_unread(tmp_path):
    path = tmp_path / "ok.npz"
    np.savez(
        path, train_images=np.zeros((3, 4, 4), np.uint8), train_labels=np.array([0.0, 2.0, 1.0])
    )
    assert load_dataset("npz", path)["train"].labels.tolist() == [0, 2, 1]
    objects = tmp_path / "objects.npz"
    ragged = np.empty(2, dtype=object)
    ragged[0], ragged[1] = np.zeros((4, 4)), np.zeros((3, 3))
    np.savez(objects, train_images=ragged)
    with pytest.raises(DataError, match="array 'train_images' cannot be read as numbers"):
        load_dataset("npz", objects)


def test_an_image_too_large_to_decode_is_refused_by_name_before_decoding(tmp_path, monkeypatch):
    from genmodels.data.folder import read_image

    big = tmp_path / "big.png"
    Image.new("L", (300, 200)).save(big)  # a few hundred bytes, 60,000 pixels decoded
    monkeypatch.setenv("PRIORWORKS_MAX_IMAGE_PIXELS", "50000")
    with pytest.raises(
        DataError, match=r"big.png: 300x200 pixels is more than the limit of 50,000"
    ):
        read_image(big)
    monkeypatch.setenv("PRIORWORKS_MAX_IMAGE_PIXELS", "60000")
    assert read_image(big).shape == (200, 300)
    monkeypatch.setenv("PRIORWORKS_MAX_IMAGE_PIXELS", "many")
    with pytest.raises(DataError, match="PRIORWORKS_MAX_IMAGE_PIXELS must be a whole number"):
        read_image(big)

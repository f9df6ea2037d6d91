"""Inputs stream in chunks: the same images and ids as reading everything at once."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from genmodels.data.imageset import ImageSet
from genmodels.data.inputs import conform, iter_inputs, load_inputs
from genmodels.data.npz import iter_npz_images, load_npz
from genmodels.errors import DataError


@pytest.mark.parametrize("compressed", [False, True])
def test_npz_chunks_equal_the_whole_array_with_the_same_ids(tmp_path, compressed):
    rng = np.random.default_rng(0)
    train = rng.integers(0, 256, (23, 5, 4), dtype=np.uint8)
    test = rng.integers(0, 256, (9, 5, 4), dtype=np.uint8)
    save = np.savez_compressed if compressed else np.savez
    save(tmp_path / "d.npz", train_images=train, test_images=test, train_labels=np.zeros(23))
    chunks = list(iter_npz_images(tmp_path / "d.npz", batch_size=4))
    assert max(len(c) for c in chunks) == 4
    assert len(chunks) == 6 + 3  # 23 -> 4*5 + 3, 9 -> 4*2 + 1
    whole = load_npz(tmp_path / "d.npz")
    streamed = torch.cat([c.images for c in chunks])
    assert torch.equal(streamed, torch.cat([whole["train"].images, whole["test"].images]))
    ids = [i for c in chunks for i in c.ids]
    assert ids == list(whole["train"].ids) + list(whole["test"].ids)
    assert ids[0] == "d.npz[train]:0" and ids[-1] == "d.npz[test]:8"


def test_npz_stream_refuses_a_file_without_image_arrays_and_a_truncated_array(tmp_path):
    np.savez(tmp_path / "none.npz", pixels=np.zeros((3, 4, 4)))
    with pytest.raises(DataError, match="no '<split>_images' arrays"):
        list(iter_npz_images(tmp_path / "none.npz", 2))
    np.save(tmp_path / "test_images.npy", np.zeros((10, 4, 4), dtype=np.uint8))
    raw = (tmp_path / "test_images.npy").read_bytes()
    import zipfile

    with zipfile.ZipFile(tmp_path / "cut.npz", "w") as zf:
        zf.writestr("test_images.npy", raw[:-20])  # the last rows are missing
    with pytest.raises(DataError, match="truncated"):
        list(iter_npz_images(tmp_path / "cut.npz", 4))


def _png(path, value, size=(6, 6)):
    Image.fromarray(np.full(size, value, dtype=np.uint8)).save(path)


def test_folder_chunks_match_load_inputs_and_stay_within_the_batch_size(tmp_path):
    for i in range(11):
        _png(tmp_path / f"im{i:02d}.png", 20 * i)
    chunks = list(iter_inputs(tmp_path, (1, 3, 3), 256, batch_size=4))
    assert [len(c) for c in chunks] == [4, 4, 3]
    whole = load_inputs(tmp_path, (1, 3, 3), 256)
    assert torch.equal(torch.cat([c.images for c in chunks]), whole.images)
    assert [i for c in chunks for i in c.ids] == [f"im{i:02d}.png" for i in range(11)]
    # resized 6x6 -> 3x3 by area: a constant image keeps its value
    assert torch.allclose(chunks[2].images[-1], torch.full((1, 3, 3), 200 / 255))


def test_a_late_file_of_another_size_is_refused_by_name(tmp_path):
    for i in range(5):
        _png(tmp_path / f"a{i}.png", 10)
    _png(tmp_path / "z_odd.png", 10, size=(7, 6))
    stream = iter_inputs(tmp_path, (1, 6, 6), 256, batch_size=2)
    assert len(next(stream)) == 2  # the first chunks are fine ...
    with pytest.raises(DataError, match="z_odd.png: size differs"):
        list(stream)  # ... the odd file is named when its chunk is read


def test_empty_inputs_and_bad_batch_sizes_are_refused(tmp_path):
    np.savez(tmp_path / "empty.npz", test_images=np.zeros((0, 4, 4), dtype=np.uint8))
    with pytest.raises(DataError, match="no images found"):
        list(iter_inputs(tmp_path / "empty.npz", (1, 4, 4), 256))
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        list(iter_inputs(tmp_path / "empty.npz", (1, 4, 4), 256, batch_size=0))


def test_conform_turns_colour_into_luma_only_when_asked():
    red = ImageSet(
        torch.tensor([1.0, 0.0, 0.0]).view(1, 3, 1, 1).expand(2, 3, 4, 4).clone(), None, 256
    )
    with pytest.raises(DataError, match="3 channel"):
        conform(red, (1, 2, 2), 256)
    gray = conform(red, (1, 2, 2), 256, grayscale=True)
    assert gray.images.shape == (2, 1, 2, 2)
    assert torch.allclose(gray.images, torch.full_like(gray.images, round(0.299 * 255) / 255))

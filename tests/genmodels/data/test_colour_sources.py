"""Colour data: photo patches with a spatial split, image folders inside tar archives, capped
splits."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from genmodels.data import load_dataset
from genmodels.data.archive import load_image_archive
from genmodels.data.imageset import ImageSet
from genmodels.data.photos import PHOTOS
from genmodels.data.splits import subsample
from genmodels.errors import DataError


def test_photo_patches_are_colour_with_disjoint_splits():
    splits = load_dataset("photos")
    assert set(splits) == {"train", "val", "test"}
    for ims in splits.values():
        assert ims.image_shape == (3, 16, 16) and ims.levels == 256
        assert set(ims.labels.tolist()) == set(range(len(PHOTOS)))
    train = {bytes(p.numpy().tobytes()) for p in (splits["train"].images * 255).round().byte()}
    test = {bytes(p.numpy().tobytes()) for p in (splits["test"].images * 255).round().byte()}
    assert not train & test  # no test patch appears in training
    # colour: the channels differ (a gray data set would have R == G == B)
    assert (splits["train"].images[:, 0] - splits["train"].images[:, 2]).abs().mean() > 0.02


def _png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def _archive(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_archive_folders_become_labels(tmp_path):
    red = np.zeros((4, 4, 3), np.uint8)
    red[..., 0] = 200
    blue = np.zeros((4, 4, 3), np.uint8)
    blue[..., 2] = 100
    path = _archive(
        tmp_path / "a.tar.gz",
        {
            "train/red/0.png": _png(red),
            "train/red/1.png": _png(red),
            "train/blue/0.png": _png(blue),
            "train/notes.txt": b"not an image",
        },
    )
    (ims,) = load_image_archive(path).values()
    assert ims.class_names == ("blue", "red") and len(ims) == 3
    assert ims.image_shape == (3, 4, 4)
    red_rows = ims.images[ims.labels == 1]
    assert torch.allclose(red_rows[:, 0], torch.full((2, 4, 4), 200 / 255))
    assert load_dataset("cifar10", path)["all"].labels.tolist() == ims.labels.tolist()


def test_archive_errors_name_the_problem(tmp_path):
    rgb = np.zeros((4, 4, 3), np.uint8)
    corrupt = _archive(tmp_path / "c.tar.gz", {"x/a/0.png": b"\x89PNG broken"})
    with pytest.raises(DataError, match="x/a/0.png: corrupt image"):
        load_image_archive(corrupt)
    mixed = _archive(
        tmp_path / "m.tar.gz",
        {"x/a/0.png": _png(rgb), "x/a/1.png": _png(np.zeros((5, 5, 3), np.uint8))},
    )
    with pytest.raises(DataError, match="different sizes"):
        load_image_archive(mixed)
    not_tar = tmp_path / "n.tar.gz"
    not_tar.write_bytes(b"plain text")
    with pytest.raises(DataError, match="not a readable tar archive"):
        load_image_archive(not_tar)
    with pytest.raises(DataError, match="archive not found"):
        load_image_archive(tmp_path / "missing.tar.gz")


def test_subsample_draws_exactly_n_stratified_and_seeded():
    labels = torch.tensor([0] * 80 + [1] * 20)
    ims = ImageSet(torch.rand(100, 1, 2, 2), labels, 256)
    a = subsample(ims, 10, seed=3)
    assert len(a) == 10 and int((a.labels == 1).sum()) == 2  # the class ratio is kept
    assert torch.equal(a.images, subsample(ims, 10, seed=3).images)
    assert not torch.equal(a.images, subsample(ims, 10, seed=4).images)
    assert subsample(ims, None, 0) is ims and subsample(ims, 500, 0) is ims
    assert len(subsample(ims, 1, 0)) == 1  # fewer than the classes: drawn without strata


def test_grayscale_makes_every_split_luma_and_keeps_labels():
    from genmodels.data.spec import DataSpec, load_splits

    colour = load_splits(DataSpec(name="photos"))
    gray = load_splits(DataSpec(name="photos", grayscale=True))
    assert set(gray) == set(colour)
    for split, ims in gray.items():
        rgb = colour[split].images.double()
        assert ims.image_shape == (1, 16, 16) and ims.levels == 256
        expected = 0.299 * rgb[:, 0] + 0.587 * rgb[:, 1] + 0.114 * rgb[:, 2]
        # BT.601 luma, on the 8-bit grid: within half a level of the exact weighted sum
        assert (ims.images[:, 0].double() - expected).abs().max() <= 0.5 / 255 + 1e-6
        levels = ims.images * 255
        assert torch.allclose(levels, levels.round(), atol=1e-4)
        assert torch.equal(ims.labels, colour[split].labels)
    # gray data sets stay as they are
    digits = load_splits(DataSpec(name="digits"))
    same = load_splits(DataSpec(name="digits", grayscale=True))
    assert torch.equal(digits["train"].images, same["train"].images)


def test_grayscale_refuses_images_that_are_not_rgb():
    from genmodels.data.imageset import to_gray

    two = ImageSet(torch.zeros(2, 2, 4, 4), None, levels=256)
    with pytest.raises(DataError, match="2-channel"):
        to_gray(two)

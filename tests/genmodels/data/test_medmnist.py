"""MedMNIST subsets by file name: read when present, fetched through the medmnist package when not.

The package is optional and the tests have no network, so its download path is exercised with a
stand-in module that writes the npz the way the package does (same class-per-subset interface).
"""

from __future__ import annotations

import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch

from genmodels.data import load_dataset
from genmodels.data.medmnist import medmnist_flag
from genmodels.errors import DataError


def _fake_package(written: list[dict]) -> types.ModuleType:
    """A stand-in for ``medmnist``: INFO for two subsets, and a class that 'downloads' an npz."""
    package = types.ModuleType("medmnist")
    package.INFO = {  # type: ignore[attr-defined]
        "breastmnist": {
            "python_class": "BreastMNIST",
            "task": "binary-class",
            "label": {"0": "malignant", "1": "normal, benign"},
        },
        "chestmnist": {"python_class": "ChestMNIST", "task": "multi-label, binary-class"},
    }

    class BreastMNIST:
        def __init__(self, split: str, download: bool, root: str, size: int) -> None:
            written.append({"split": split, "download": download, "root": root, "size": size})
            rng = np.random.default_rng(0)
            name = "breastmnist.npz" if size == 28 else f"breastmnist_{size}.npz"
            np.savez(
                Path(root) / name,
                **{
                    f"{s}_{kind}": (
                        rng.integers(0, 256, (n, size, size), dtype=np.uint8)
                        if kind == "images"
                        else rng.integers(0, 2, (n, 1))
                    )
                    for s, n in (("train", 6), ("val", 2), ("test", 3))
                    for kind in ("images", "labels")
                },
            )

    package.BreastMNIST = BreastMNIST  # type: ignore[attr-defined]
    return package


@pytest.fixture
def no_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "medmnist", None)  # makes `import medmnist` fail


def test_file_names_give_the_subset_and_size():
    assert medmnist_flag(Path("breastmnist.npz")) == ("breastmnist", 28)
    assert medmnist_flag(Path("/x/pneumoniamnist_64.npz")) == ("pneumoniamnist", 64)
    with pytest.raises(DataError, match="not a MedMNIST file name"):
        medmnist_flag(Path("scans.npz"))
    with pytest.raises(DataError, match="3-D volumes.*data.name=medical"):
        medmnist_flag(Path("organmnist3d.npz"))


def test_an_existing_file_loads_like_the_pneumoniamnist_loader(shared_data, tmp_path, no_package):
    source = shared_data / "medical" / "pneumoniamnist.npz"
    (tmp_path / "pneumoniamnist.npz").symlink_to(source)
    got = load_dataset("medmnist", tmp_path / "pneumoniamnist.npz")
    want = load_dataset("pneumoniamnist", source)
    assert set(got) == set(want) == {"train", "val", "test"}
    for split in want:
        assert torch.equal(got[split].images, want[split].images)
        assert torch.equal(got[split].labels, want[split].labels)


def test_a_missing_file_without_the_package_says_how_to_get_it(tmp_path, no_package):
    with pytest.raises(DataError, match="file not found.*pip install medmnist"):
        load_dataset("medmnist", tmp_path / "breastmnist.npz")


def test_a_missing_file_is_downloaded_by_the_package_into_its_folder(tmp_path, monkeypatch):
    written: list[dict] = []
    monkeypatch.setitem(sys.modules, "medmnist", _fake_package(written))
    target = tmp_path / "cache" / "breastmnist_64.npz"  # the folder does not exist yet
    splits = load_dataset("medmnist", target)
    assert written == [{"split": "train", "download": True, "root": str(target.parent), "size": 64}]
    assert {k: len(v) for k, v in splits.items()} == {"train": 6, "val": 2, "test": 3}
    assert splits["train"].image_shape == (1, 64, 64)
    assert splits["train"].class_names == ("malignant", "normal, benign")
    load_dataset("medmnist", target)  # present now: read, not fetched again
    assert len(written) == 1


def test_subsets_priorworks_cannot_use_are_refused_before_any_download(tmp_path, monkeypatch):
    written: list[dict] = []
    monkeypatch.setitem(sys.modules, "medmnist", _fake_package(written))
    with pytest.raises(DataError, match="multi-label"):
        load_dataset("medmnist", tmp_path / "chestmnist.npz")
    with pytest.raises(DataError, match="not a MedMNIST subset.*known: breastmnist"):
        load_dataset("medmnist", tmp_path / "fakemnist.npz")
    assert written == []


def test_a_failed_download_is_a_data_error_naming_the_subset(tmp_path, monkeypatch):
    package = _fake_package([])

    class Offline:
        def __init__(self, **kwargs) -> None:
            raise RuntimeError("Automatic download failed!")

    package.BreastMNIST = Offline  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "medmnist", package)
    with pytest.raises(DataError, match="downloading 'breastmnist' \\(size 28\\) failed"):
        load_dataset("medmnist", tmp_path / "breastmnist.npz")
    assert not (tmp_path / "breastmnist.npz").exists()

"""Release bundles: versioned, complete, never half-written, never overwritten."""

from __future__ import annotations

import json
import tarfile

import numpy as np
import pytest
import torch

from pipelines.ops import release_bundle
from pipelines.ops.release_bundle import next_version, write_bundle


def _write(root, version, fmt="npz"):
    images = torch.rand(5, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    labels = torch.tensor([0, 1, 1, 0, 1])
    sheet = {"name": "s", "version": version}
    return write_bundle(root, "s", version, images, labels, ("a", "b"), sheet, "# s\n", fmt), images


def test_bundle_holds_images_labels_and_datasheet(tmp_path):
    (folder, archive), images = _write(tmp_path, 1)
    assert folder.name == "s-v1" and archive.name == "s-v1.tar.gz"
    with np.load(folder / "images.npz") as npz:
        assert npz["images"].shape == (5, 4, 4, 1) and npz["images"].dtype == np.uint8
        assert np.array_equal(npz["images"][..., 0], (images[:, 0] * 255).round().byte().numpy())
        assert npz["labels"].tolist() == [0, 1, 1, 0, 1]
    assert (folder / "labels.csv").read_text().splitlines()[1] == "images.npz[0],0,a"
    assert json.loads((folder / "datasheet.json").read_text())["version"] == 1
    with tarfile.open(archive) as tar:
        assert "s-v1/DATASHEET.md" in tar.getnames()
    assert next_version(tmp_path, "s") == 2


def test_png_bundles_and_versions_never_overwrite(tmp_path):
    (folder, _), _ = _write(tmp_path, 1, "png")
    assert len(list((folder / "images").glob("*.png"))) == 5
    with pytest.raises(FileExistsError, match="never overwritten"):
        _write(tmp_path, 1)


def test_a_crash_mid_write_leaves_no_release(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(release_bundle.tarfile, "open", broken)
    with pytest.raises(OSError, match="disk full"):
        _write(tmp_path, 1)
    assert list(tmp_path.iterdir()) == []  # no folder, no archive, no partial files
    assert next_version(tmp_path, "s") == 1

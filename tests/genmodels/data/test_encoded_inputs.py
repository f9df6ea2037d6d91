"""A file's bytes decode to what reading the file gives: images, ids, levels, for every format
the ``score`` command reads, named or not; bytes that do not decode are refused by name."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
import torch
from medical_files import write_dicom
from PIL import Image

from genmodels.data.encoded import decode_file, encode_npy, file_kind
from genmodels.data.inputs import conform, input_files, load_inputs
from genmodels.data.npz import iter_npz_arrays
from genmodels.errors import DataError

SHAPE = (1, 12, 12)


def _decoded(data: bytes, name: str, shape=SHAPE, levels: int = 256):
    return conform(decode_file(data, name, shape[1:]), shape, levels)


def _folder(tmp_path):
    rng = np.random.default_rng(0)
    root = tmp_path / "images"
    for cls in ("a", "b"):
        (root / cls).mkdir(parents=True)
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (20, 20), dtype=np.uint8)).save(
            root / "a" / f"{i}.png"
        )
    Image.fromarray(rng.integers(0, 256, (20, 20), dtype=np.uint8)).save(root / "b" / "x.jpg")
    return root


@pytest.mark.parametrize("levels", [256, 17])
def test_a_folder_decodes_row_by_row_as_it_reads(tmp_path, levels):
    root = _folder(tmp_path)
    expected = load_inputs(root, SHAPE, levels)
    listed = input_files(root)
    assert tuple(file_id for file_id, _ in listed) == expected.ids
    rows = [_decoded(file.read_bytes(), file_id, levels=levels) for file_id, file in listed]
    assert tuple(i for r in rows for i in r.ids) == expected.ids
    assert torch.equal(torch.cat([r.images for r in rows]), expected.images)


def test_16_bit_and_colour_images_keep_their_depth_and_channels(tmp_path):
    deep = (np.arange(16 * 16, dtype=np.uint16).reshape(16, 16) * 250).astype(np.uint16)
    Image.fromarray(deep).save(tmp_path / "deep.png")
    rgb = np.random.default_rng(1).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    for name, shape, levels in [("deep.png", (1, 16, 16), 4096), ("rgb.png", (3, 8, 8), 256)]:
        expected = load_inputs(tmp_path / name, shape, levels)
        got = _decoded((tmp_path / name).read_bytes(), name, shape, levels)
        assert got.ids == expected.ids == (name,)
        assert torch.equal(got.images, expected.images)


def test_volumes_and_dicom_decode_slice_by_slice_with_the_file_ids(tmp_path):
    root = tmp_path / "scans"
    (root / "ct").mkdir(parents=True)
    ramp = np.linspace(0, 3000, 24 * 24 * 4).reshape(24, 24, 4).astype(np.int16)
    nib.save(nib.Nifti1Image(ramp, np.eye(4)), str(root / "ct" / "vol.nii.gz"))
    write_dicom(root / "ct" / "slice.dcm", np.linspace(0, 900, 24 * 24).reshape(24, 24))
    expected = load_inputs(root, SHAPE, 256)
    rows = [_decoded(f.read_bytes(), file_id) for file_id, f in input_files(root)]
    assert tuple(i for r in rows for i in r.ids) == expected.ids
    assert expected.ids[:2] == ("ct/slice.dcm", "ct/vol.nii.gz#0")
    assert torch.equal(torch.cat([r.images for r in rows]), expected.images)


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_npz_rows_travel_as_npy_bytes_and_decode_as_the_archive_reads(tmp_path, dtype):
    rng = np.random.default_rng(2)
    images = rng.integers(0, 256, (7, 12, 12)).astype(np.uint8)
    stored = images if dtype == np.uint8 else (images / 255).astype(np.float32)
    np.savez(tmp_path / "x.npz", test_images=stored)
    expected = load_inputs(tmp_path / "x.npz", SHAPE, 256)
    rows = [
        _decoded(encode_npy(row), row_id)
        for _, ids, chunk in iter_npz_arrays(tmp_path / "x.npz", 3)
        for row_id, row in zip(ids, chunk, strict=True)
    ]
    assert tuple(r.ids[0] for r in rows) == expected.ids
    assert torch.equal(torch.cat([r.images for r in rows]), expected.images)


def test_the_kind_comes_from_the_bytes_when_the_name_has_no_suffix(tmp_path):
    root = _folder(tmp_path)
    png = (root / "a" / "0.png").read_bytes()
    nib.save(nib.Nifti1Image(np.ones((8, 8, 2), np.int16), np.eye(4)), str(tmp_path / "v.nii"))
    nib.save(nib.Nifti1Image(np.ones((8, 8, 2), np.int16), np.eye(4)), str(tmp_path / "v.nii.gz"))
    write_dicom(tmp_path / "s.dcm", np.ones((8, 8)))
    blobs = {
        "image": png,
        "npy": encode_npy(np.zeros((4, 4), np.uint8)),
        "nifti": (tmp_path / "v.nii").read_bytes(),
        "nifti.gz": (tmp_path / "v.nii.gz").read_bytes(),
        "dicom": (tmp_path / "s.dcm").read_bytes(),
    }
    assert {kind: file_kind(data, "row-17") for kind, data in blobs.items()} == {
        kind: kind for kind in blobs
    }
    unnamed = _decoded(png, "row-17")
    assert unnamed.ids == ("row-17",)
    assert torch.equal(unnamed.images, _decoded(png, "0.png").images)
    assert _decoded(blobs["nifti"], "row-18").ids == ("row-18#0", "row-18#1")


@pytest.mark.parametrize(
    ("data", "name", "message"),
    [
        (b"", "empty.png", "empty.png: empty file"),
        (b"not an image", "scan-04.png", "scan-04.png: corrupt or unreadable image"),
        (b"\x93NUMPY garbage", "row-3", "row-3: not a readable .npy array"),
        (b"\x1f\x8b broken gzip", "vol-9", "vol-9: not a readable NIfTI file"),
    ],
)
def test_bytes_that_do_not_decode_are_refused_naming_the_file(data, name, message):
    with pytest.raises(DataError, match=message) as err:
        decode_file(data, name, (8, 8))
    assert "BytesIO" not in str(err.value) and "priorworks-decode" not in str(err.value)

"""Inputs for scoring: NIfTI volumes and DICOM slices through MONAI, images, npz; clear errors."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
import torch
from medical_files import write_dicom
from PIL import Image

from genmodels.data.inputs import load_inputs
from genmodels.data.medical import read_slices
from genmodels.errors import DataError


def _write_nifti(path, volume):
    nib.save(nib.Nifti1Image(volume, affine=np.eye(4)), str(path))


def _ramp(h: int, w: int, top: int) -> np.ndarray:
    return np.linspace(0, top, h * w).reshape(h, w)


def test_a_16_bit_nifti_volume_becomes_one_normalized_resized_image_per_slice(tmp_path):
    volume = np.stack([_ramp(32, 32, 4000), _ramp(32, 32, 60000), np.full((32, 32), 7.0)], -1)
    _write_nifti(tmp_path / "scan.nii.gz", volume.astype(np.uint16))
    images = load_inputs(tmp_path / "scan.nii.gz", (1, 16, 16), 256)
    assert images.images.shape == (3, 1, 16, 16)
    assert images.ids == ("scan.nii.gz#0", "scan.nii.gz#1", "scan.nii.gz#2")
    x = images.images
    # each slice spans [0, 1] whatever its physical range; the flat slice is all zeros
    assert x[0].min() < 0.02 and x[0].max() > 0.98 and x[1].max() > 0.98
    assert type(x) is torch.Tensor  # not a MONAI MetaTensor
    assert torch.allclose(x[0], x[1], atol=1 / 255)  # same ramp, different scale
    assert torch.all(x[2] == 0)
    assert torch.allclose(x * 255, torch.round(x * 255))  # re-quantized to 256 levels


def test_dicom_slices_in_a_folder_are_read_in_order_with_their_paths(tmp_path):
    (tmp_path / "series").mkdir()
    write_dicom(tmp_path / "series" / "a.dcm", _ramp(20, 20, 1000))
    write_dicom(tmp_path / "series" / "b.dcm", _ramp(20, 20, 1000)[::-1])
    images = load_inputs(tmp_path, (1, 10, 10), 17)
    assert images.ids == ("series/a.dcm", "series/b.dcm")
    a, b = images.images
    assert a[0, 0, 0] < 0.05 and a[0, -1, -1] > 0.95
    assert torch.all(a[0, 1:, 0] >= a[0, :-1, -1])  # raster order: each row above the next
    assert torch.allclose(b, torch.flip(a, dims=[1]))


def test_grayscale_inputs_are_repeated_for_a_colour_model_and_rgb_refused_for_gray(tmp_path):
    Image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8)).save(tmp_path / "rgb.png")
    with pytest.raises(DataError, match="3 channel\\(s\\), the model expects 1"):
        load_inputs(tmp_path / "rgb.png", (1, 8, 8), 256)
    Image.fromarray(np.full((8, 8), 255, dtype=np.uint8)).save(tmp_path / "gray.png")
    colour = load_inputs(tmp_path / "gray.png", (3, 4, 4), 256)
    assert colour.images.shape == (1, 3, 4, 4) and torch.all(colour.images == 1)


def test_bad_inputs_name_the_problem(tmp_path):
    with pytest.raises(DataError, match="no such file or folder"):
        load_inputs(tmp_path / "missing", (1, 8, 8), 256)
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(DataError, match="unsupported input"):
        load_inputs(tmp_path / "notes.txt", (1, 8, 8), 256)
    (tmp_path / "broken.nii").write_bytes(b"not a nifti file at all")
    with pytest.raises(DataError, match="broken.nii: not a readable NIfTI file"):
        read_slices(tmp_path / "broken.nii")
    _write_nifti(tmp_path / "series4d.nii", np.zeros((4, 4, 2, 3), dtype=np.float32))
    with pytest.raises(DataError, match="2D image or a 3D volume"):
        read_slices(tmp_path / "series4d.nii")


def test_a_medical_folder_is_a_labelled_data_set_resized_by_the_spec(tmp_path):
    from genmodels.data.catalog import load_dataset

    for label, top in (("normal", 1000), ("lesion", 3000)):
        (tmp_path / label).mkdir()
        _write_nifti(tmp_path / label / "vol.nii.gz", np.stack([_ramp(24, 24, top)] * 2, -1))
    write_dicom(tmp_path / "lesion" / "extra.dcm", _ramp(30, 30, 500))
    with pytest.raises(DataError, match="differs from .*set data.image_size"):
        load_dataset("medical", tmp_path)
    data = load_dataset("medical", tmp_path, image_size=(12, 12))["all"]
    assert data.images.shape == (5, 1, 12, 12) and data.levels == 256
    assert data.class_names == ("lesion", "normal")
    assert data.labels.tolist() == [0, 0, 0, 1, 1]
    assert data.ids[0] == "lesion/extra.dcm" and data.ids[-1] == "normal/vol.nii.gz#1"
    with pytest.raises(DataError, match="no NIfTI"):
        (tmp_path / "empty").mkdir()
        load_dataset("medical", tmp_path / "empty")


def test_image_size_resizes_any_data_set_and_keeps_labels():
    from genmodels.data.catalog import load_dataset

    splits = load_dataset("digits", image_size=(4, 4))
    assert splits["all"].images.shape[1:] == (1, 4, 4)
    assert splits["all"].labels is not None and splits["all"].levels == 17

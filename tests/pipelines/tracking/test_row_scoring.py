"""The body of a Spark scoring job, without Spark: rows of file bytes or paths scored as the
single-process ``score`` scores the files; a bad row becomes an error row, not a failure."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from logged_detector import log_gmm_detector
from PIL import Image

import mlflow
from genmodels.data.inputs import load_inputs
from pipelines.tracking.row_scoring import OUTPUT_COLUMNS, RowScorer


@pytest.fixture
def model_dir(tiny_images, mlflow_store, tmp_path):
    """A logged GMM detector of 4x4 images, copied to a local folder (as a job ships it)."""
    run_id = log_gmm_detector(tiny_images, "rows")
    return mlflow.artifacts.download_artifacts(
        f"runs:/{run_id}/model", dst_path=str(tmp_path / "copy")
    )


def _files(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(5):
        Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8)).save(folder / f"{i}.png")
    return folder


def _rows(records):
    return pd.DataFrame(records, columns=["order", "file", "path", "content"])


def test_rows_score_like_the_files_in_any_batching_and_bad_rows_become_errors(model_dir, tmp_path):
    folder = _files(tmp_path)
    files = sorted(folder.glob("*.png"))
    scorer = RowScorer(model_dir, batch_size=2)
    loaded, detector = scorer.load()
    expected = loaded.predict(
        load_inputs(folder, detector.image_shape, detector.levels).images.numpy()
    )
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "rgb.png")
    batch = _rows(
        [
            (0, "0.png", None, files[0].read_bytes()),  # bytes in the row
            (1, "1.png", str(files[1]), None),  # a path the worker reads
            (2, "broken.png", None, b"\x89PNG truncated"),
            (3, "2.png", None, files[2].read_bytes()),
            (4, "gone.png", str(tmp_path / "gone.png"), None),
            (5, "rgb.png", str(tmp_path / "rgb.png"), None),  # 3 channels for a gray model
            (6, "3.png", str(files[3]), None),
            (7, "4.png", None, files[4].read_bytes()),
        ]
    )
    out = pd.concat(list(scorer([batch.iloc[:3], batch.iloc[3:]])), ignore_index=True)
    assert tuple(out.columns) == OUTPUT_COLUMNS
    scored = out[out["error"].isna()].sort_values("order")
    assert scored["file"].tolist() == [f"{i}.png" for i in range(5)]
    assert scored["order"].tolist() == [0, 1, 3, 6, 7]
    assert np.allclose(scored["score"], expected["score"], atol=1e-6)
    assert np.array_equal(scored["flagged"], expected["flagged"])
    errors = dict(zip(out.loc[out["error"].notna(), "file"], out["error"].dropna(), strict=True))
    assert set(errors) == {"broken.png", "gone.png", "rgb.png"}
    assert errors["broken.png"].startswith("broken.png: corrupt or unreadable image")
    assert errors["gone.png"].startswith("gone.png: cannot read")
    assert "3 channel(s), the model expects 1" in errors["rgb.png"]
    one_batch = pd.concat(list(RowScorer(model_dir, batch_size=256)([batch])))
    assert np.allclose(one_batch.sort_values("order")["score"].dropna(), scored["score"], atol=1e-6)


def test_a_volume_row_gives_one_scored_row_per_slice_in_order(model_dir, tmp_path):
    volume = np.random.default_rng(1).integers(0, 3000, (8, 8, 3)).astype(np.int16)
    nib.save(nib.Nifti1Image(volume, np.eye(4)), str(tmp_path / "ct.nii.gz"))
    scorer = RowScorer(model_dir)
    loaded, detector = scorer.load()
    expected = loaded.predict(
        load_inputs(tmp_path / "ct.nii.gz", detector.image_shape, detector.levels).images.numpy()
    )
    (out,) = scorer([_rows([(9, "site/ct.nii.gz", None, (tmp_path / "ct.nii.gz").read_bytes())])])
    assert out["file"].tolist() == [f"site/ct.nii.gz#{k}" for k in range(3)]
    assert out["part"].tolist() == [0, 1, 2] and (out["order"] == 9).all()
    assert np.allclose(out["score"], expected["score"], atol=1e-6)


def test_a_moved_threshold_moves_the_flags_of_every_row(model_dir, tmp_path):
    folder = _files(tmp_path)
    rows = _rows([(i, f.name, str(f), None) for i, f in enumerate(sorted(folder.glob("*.png")))])
    (plain,) = RowScorer(model_dir)([rows])
    cut = float(np.median(plain["score"]))
    (moved,) = RowScorer(model_dir, threshold=cut)([rows])
    assert np.array_equal(moved["score"], plain["score"])
    assert np.array_equal(moved["flagged"], plain["score"] > cut)

"""``priorworks score --engine spark`` on a local Spark with two executors: the same CSV as the
single-process command for a folder, an npz and a Parquet table (scores to 1e-5); a file that
does not decode is reported by row and the job goes on; what cannot be scored is refused."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from anomaly_cli import run_scores_only
from PIL import Image

from genmodels.data import ensure_splits, load_dataset
from pipelines.cli import main

pytestmark = pytest.mark.slow  # make test-slow installs pyspark first (make spark)


@pytest.fixture(scope="module")
def scored_inputs(tmp_path_factory):
    """A tiny run's model and 120 test digits as a folder of PNGs, an npz and a Parquet table,
    each scored by the single-process command: (model URI, folder, npz, table, local CSV)."""
    root = tmp_path_factory.mktemp("spark")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", uri)
        mp.delenv("PRIORWORKS_ARTIFACT_ROOT", raising=False)
        _, parent, _ = run_scores_only(uri)
        x = ensure_splits(load_dataset("digits"), 0.2, 0.3, 0)["test"].images[:120]
        pixels = (x.numpy()[:, 0] * 255).round().astype(np.uint8)
        folder = root / "pngs"
        folder.mkdir()
        for i, image in enumerate(pixels):
            Image.fromarray(image).save(folder / f"d{i:03d}.png")
        np.savez(root / "digits.npz", test_images=pixels)
        table = root / "digits.parquet"
        files = sorted(folder.glob("*.png"))
        pq.write_table(
            pa.table({"path": [f.name for f in files], "content": [f.read_bytes() for f in files]}),
            table,
        )
        local = root / "local.csv"
        model = f"runs:/{parent.info.run_id}/model"
        assert main(["score", "--model", model, "--input", str(folder), "--out", str(local)]) == 0
        yield model, folder, root / "digits.npz", table, pd.read_csv(local), mp


def _spark(model, source, out, *extra):
    return main(["score", "--engine", "spark", "--model", model, "--input", str(source),
                 "--out", str(out), "--executors", "2", *extra])  # fmt: skip


def test_a_folder_with_a_broken_file_scores_like_the_local_engine_and_names_the_file(
    scored_inputs, tmp_path, capsys
):
    model, folder, _, _, local, _ = scored_inputs
    (folder / "zz-broken.png").write_bytes(b"\x89PNG\r\n\x1a\n cut short")
    try:
        assert _spark(model, folder, tmp_path / "spark.csv") == 0
    finally:
        (folder / "zz-broken.png").unlink()
    said = capsys.readouterr().out
    assert "scored 120 image(s)" in said and "1 input(s) could not be scored" in said
    spark = pd.read_csv(tmp_path / "spark.csv")
    assert list(spark.columns) == ["file", "score", "p_value", "flagged"]
    assert spark["file"].tolist() == local["file"].tolist()  # every image once, in input order
    assert np.allclose(spark["score"], local["score"], rtol=0, atol=1e-5)
    assert np.allclose(spark["p_value"], local["p_value"], rtol=0, atol=1e-12)
    assert np.array_equal(spark["flagged"], local["flagged"])
    errors = pd.read_csv(tmp_path / "spark.errors.csv")
    assert errors["file"].tolist() == ["zz-broken.png"]
    assert errors["error"][0].startswith("zz-broken.png: corrupt or unreadable image")


def test_npz_and_parquet_inputs_give_the_same_scores(scored_inputs, tmp_path):
    model, _, npz, table, local, _ = scored_inputs
    assert _spark(model, npz, tmp_path / "npz.csv", "--batch-size", "32") == 0
    from_npz = pd.read_csv(tmp_path / "npz.csv")
    assert from_npz["file"].tolist() == [f"digits.npz[test]:{i}" for i in range(120)]
    assert np.allclose(from_npz["score"], local["score"], rtol=0, atol=1e-5)
    assert _spark(model, table, tmp_path / "table.csv") == 0
    from_table = pd.read_csv(tmp_path / "table.csv")
    assert from_table["file"].tolist() == local["file"].tolist()
    assert np.allclose(from_table["score"], local["score"], rtol=0, atol=1e-5)
    assert not (tmp_path / "table.errors.csv").exists()  # nothing failed, no error file


def test_inputs_that_cannot_be_scored_are_refused_and_nothing_is_written(
    scored_inputs, tmp_path, capsys
):
    model, _, _, _, _, _ = scored_inputs
    pq.write_table(pa.table({"path": ["a.png"], "pixels": [1.0]}), tmp_path / "bad.parquet")
    out = tmp_path / "bad.csv"
    assert _spark(model, tmp_path / "bad.parquet", out) == 2
    err = capsys.readouterr().err
    assert "needs a string column naming each image" in err and "pixels (double)" in err
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "a.png").write_bytes(b"nothing")
    (junk / "b.png").write_bytes(b"")
    assert _spark(model, junk, out) == 2
    err = capsys.readouterr().err
    assert "no image could be scored (2 row(s) failed; the first: a.png:" in err
    assert not out.exists() and not list(tmp_path.glob(".bad*"))

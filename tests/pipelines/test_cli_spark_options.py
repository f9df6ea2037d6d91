"""``score --engine spark`` refuses what it cannot do before any Spark or model work starts."""

from __future__ import annotations

import sys
import types

import pytest

from pipelines.cli import main

BASE = ["score", "--engine", "spark", "--model", "runs:/0123/model", "--input", "in.npz"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--maps", "maps"], "--maps is written by the local engine only"),
        (["--executors", "0"], "--executors and --executor-cores must be at least 1"),
        (["--batch-size", "0"], "--batch-size must be at least 1"),
    ],
)
def test_bad_spark_options_exit_2_naming_the_option(extra, message, tmp_path, capsys):
    out = tmp_path / "scores.csv"
    assert main([*BASE, "--out", str(out), *extra]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_without_pyspark_the_error_says_how_to_install_it(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyspark", None)  # import pyspark raises ImportError
    assert main([*BASE, "--out", str(tmp_path / "scores.csv")]) == 2
    err = capsys.readouterr().err
    assert "--engine spark needs pyspark: run `make spark`" in err


def test_without_java_the_error_names_the_debian_package(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyspark", types.ModuleType("pyspark"))  # installed or not
    monkeypatch.setattr("shutil.which", lambda name: None)
    monkeypatch.delenv("JAVA_HOME", raising=False)
    assert main([*BASE, "--out", str(tmp_path / "scores.csv")]) == 2
    assert "openjdk-17-jre-headless" in capsys.readouterr().err

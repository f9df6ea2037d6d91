"""The committed model index is what the registry says, and listing it needs no torch."""

import json
import subprocess
import sys

import pytest

from genmodels.model_index import build_index, index_text, main, read_index


def test_committed_index_matches_the_registered_classes():
    # fails when a model is added, renamed or re-parameterized without `make model-index`
    assert read_index() == build_index(), "genmodels/model_index.json is stale: make model-index"


def test_check_flags_a_stale_index(tmp_path, monkeypatch, capsys):
    stale = [*build_index()][1:]  # one model missing
    path = tmp_path / "model_index.json"
    path.write_text(index_text(stale))
    monkeypatch.setattr("genmodels.model_index.INDEX_PATH", path)
    assert main(["--check"]) == 1
    assert "stale" in capsys.readouterr().out
    assert main([]) == 0  # rewrite
    assert main(["--check"]) == 0
    assert len(json.loads(path.read_text())["models"]) == len(stale) + 1


def test_unreadable_index_names_the_file_and_the_fix(tmp_path):
    path = tmp_path / "model_index.json"
    path.write_text('{"models": [{"name": "x"}]}')
    with pytest.raises(RuntimeError, match="model_index.json is unreadable.*make model-index"):
        read_index(path)


def test_priorworks_models_lists_the_index_without_importing_torch():
    code = (
        "import sys; from pipelines.cli import main; rc = main(['models']); "
        "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH'); sys.exit(rc)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("NO-TORCH")
    for info in read_index():
        assert f"{info.params:,}" in out.stdout

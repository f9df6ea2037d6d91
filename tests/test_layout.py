"""The project's structural promises: mlflow/ holds no Python, layers import downward only."""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_mlflow_folder_holds_no_python():
    assert (ROOT / "mlflow").is_dir()
    assert not list((ROOT / "mlflow").rglob("*.py"))


def test_import_mlflow_resolves_to_the_installed_package():
    mlflow = importlib.import_module("mlflow")
    path = Path(mlflow.__file__).resolve()
    assert "site-packages" in path.parts
    assert ROOT / "mlflow" not in path.parents
    assert hasattr(mlflow, "start_run")


def test_layer_contracts_hold():
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert exe, "import-linter is part of the dev install"
    out = subprocess.run([exe], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "3 kept, 0 broken" in out.stdout


def test_tasks_and_genmodels_never_import_mlflow_directly():
    for package in ("tasks", "genmodels"):
        for path in (ROOT / package).rglob("*.py"):
            text = path.read_text()
            assert "import mlflow" not in text and "from mlflow" not in text, path

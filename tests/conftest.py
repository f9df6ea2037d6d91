"""Shared fixtures: tiny synthetic images, a temporary MLflow store, the shared real data."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path

import pytest
import torch

from genmodels.data.imageset import ImageSet

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    """``../shared/data``: real data sets kept beside the repository (never copied into it)."""
    if not SHARED_DATA.is_dir():
        pytest.fail(f"real data folder {SHARED_DATA} is missing; see ../shared/data/README.md")
    return SHARED_DATA


@pytest.fixture(autouse=True)
def _no_stray_mlruns() -> Iterator[None]:
    """Fail the test that makes MLflow write ``./mlruns`` into the working directory (an
    experiment created without an artifact root): artifacts belong beside the test's store."""
    stray = Path("mlruns")
    existed = stray.exists()
    yield
    if not existed and stray.exists():
        pytest.fail(
            f"the test wrote MLflow artifacts to {stray.resolve()}; create experiments "
            "with pipelines.tracking.setup_experiment"
        )


@pytest.fixture
def tiny_images() -> ImageSet:
    """40 4x4 gray images, 17 levels: 20 'bright centre' (label 0), 20 'dark centre' (label 1)."""
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 6, (40, 1, 4, 4), generator=g).float()
    x[:20, :, 1:3, 1:3] += 10
    x = x.clamp(0, 16) / 16
    labels = torch.tensor([0] * 20 + [1] * 20)
    return ImageSet(
        x, labels, levels=17, class_names=("bright", "dark"), ids=tuple(f"i{i}" for i in range(40))
    )


@pytest.fixture(scope="session")
def _empty_store_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty SQLite tracking store with MLflow's schema in place, made once per session:
    building the schema takes seconds, copying the file milliseconds."""
    from mlflow.tracking import MlflowClient

    db = tmp_path_factory.mktemp("empty-store") / "mlflow.db"
    MlflowClient(f"sqlite:///{db}").search_experiments()  # creates the tables
    return db


@pytest.fixture(scope="session")
def new_store(_empty_store_file: Path) -> Callable[[Path], str]:
    """Make a fresh SQLite tracking store at a path (a copy of the empty one); its URI. Its
    Default experiment points at ``./mlruns`` of the working folder, as a store MLflow builds
    there would (so :func:`_no_stray_mlruns` still catches a test that writes into it)."""

    def make(db: Path) -> str:
        db.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(_empty_store_file, db)
        with closing(sqlite3.connect(db)) as con, con:
            moved = con.execute(
                "UPDATE experiments SET artifact_location = ? WHERE experiment_id = 0",
                (str(Path.cwd() / "mlruns" / "0"),),
            ).rowcount
        assert moved == 1, f"the empty store at {_empty_store_file} has no Default experiment"
        return f"sqlite:///{db}"

    return make


@pytest.fixture
def mlflow_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, new_store: Callable[[Path], str]
) -> str:
    """A fresh SQLite tracking store under tmp_path; returns its URI."""
    uri = new_store(tmp_path / "mlflow.db")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.delenv("PRIORWORKS_ARTIFACT_ROOT", raising=False)
    return uri

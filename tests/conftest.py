"""Shared fixtures: tiny synthetic images, a temporary MLflow store, the shared real data."""

from __future__ import annotations

from collections.abc import Iterator
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


@pytest.fixture
def mlflow_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh SQLite tracking store under tmp_path; returns its URI."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.delenv("PRIORWORKS_ARTIFACT_ROOT", raising=False)
    return uri

"""The shared data sets the cross-data-set benchmarks run on (read in place from
``../shared/data``, never copied), as ``data`` sections of a spec."""

from __future__ import annotations

from pathlib import Path
from typing import Any

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"

#: data set -> the spec's ``data`` section for it (the rest of the section stays the spec's)
DATASETS: dict[str, dict[str, Any]] = {
    "usps": {"name": "usps", "path": str(SHARED / "digits/usps.npz")},
    "pneumoniamnist": {
        "name": "pneumoniamnist",
        "path": str(SHARED / "medical/pneumoniamnist.npz"),
    },
    "retinamnist": {"name": "medmnist", "path": str(SHARED / "medical/retinamnist.npz")},
    "cifar10": {"name": "cifar10", "path": str(SHARED / "cifar10/train_jpg.tar.gz")},
}


def data_overrides(dataset: str, **extra: Any) -> list[str]:
    """``load_spec`` overrides that point a spec's ``data`` section at the data set (plus
    ``extra`` keys); the section's other keys (split fractions, seeds) stay the spec's."""
    return [f"data.{key}={value}" for key, value in (DATASETS[dataset] | extra).items()]

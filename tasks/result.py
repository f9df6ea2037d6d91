"""What a task returns: tables, metrics, figures, artifacts and the things to deliver, for the
pipeline to record the same way for every task (tasks never talk to a tracking server)."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure


def png_bytes(fig: Figure) -> bytes:
    """The figure as PNG bytes; the figure is closed (results hold many, memory stays flat)."""
    try:
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
        return buffer.getvalue()
    finally:
        plt.close(fig)


@dataclass
class Record:
    """Things to record in one tracked run: params, tags, metrics, tables, figures, files."""

    params: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)  # name -> tables/<name>.csv
    figures: dict[str, bytes] = field(default_factory=dict)  # name -> plots/<name>.png
    files: dict[str, bytes] = field(default_factory=dict)  # path in the run -> content

    def figure(self, name: str, fig: Figure) -> None:
        """Keep ``fig`` as ``plots/<name>.png`` (rendered now, then closed)."""
        self.figures[name] = png_bytes(fig)


@dataclass
class Stage(Record):
    """A nested run of the pipeline's run (a score, a baseline), named ``name``."""

    name: str = ""


class ScoringModel(Protocol):
    """A trained model that scores images, delivered as a logged (and registrable) model."""

    @property
    def image_shape(self) -> tuple[int, int, int]: ...


@dataclass(frozen=True)
class Bundle:
    """A data set to publish as a versioned release bundle (written only when ``passed``).

    ``describe(name, version, spec_hash)`` returns the datasheet (a dict and its Markdown) for the
    version the pipeline assigns under ``root``.
    """

    images: torch.Tensor
    labels: torch.Tensor
    class_names: tuple[str, ...]
    image_format: str
    root: str
    passed: bool
    failures: list[str]
    describe: Callable[[str, int, str], tuple[dict[str, Any], str]]


#: exit code of a run whose release the gate refused (the run itself worked)
RELEASE_REFUSED = 3


@dataclass
class TaskResult(Record):
    """What a task's ``run`` returns.

    Attributes:
        table: the results table the command line prints.
        stages: nested runs (one per score, baseline...) with their own records.
        model: a trained scoring model to log as the run's model.
        selection: ``(metric, value)`` a registered model is judged by (higher is better).
        bundle: a data set to publish as a release bundle.
    """

    table: pd.DataFrame = field(default_factory=pd.DataFrame)
    stages: list[Stage] = field(default_factory=list)
    model: ScoringModel | None = None
    selection: tuple[str, float] | None = None
    bundle: Bundle | None = None

    @property
    def exit_code(self) -> int:
        return RELEASE_REFUSED if self.bundle is not None and not self.bundle.passed else 0


def finite_metrics(metrics: dict[str, float]) -> dict[str, float]:
    """The metrics a tracking store can hold (it stores no infinity or NaN)."""
    return {k: float(v) for k, v in metrics.items() if np.isfinite(v)}

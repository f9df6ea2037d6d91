"""Test helper: ``priorworks`` in a process of its own, as a user or a scheduler starts it."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path


def start_priorworks(
    args: list[str], env: Mapping[str, str], cwd: Path | None = None
) -> subprocess.Popen[str]:
    """``priorworks <args>`` with this interpreter; stdout and stderr together, as text."""
    return subprocess.Popen(
        [sys.executable, "-m", "pipelines.cli", *args],
        cwd=cwd,
        env=dict(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )

"""What a saved colorization file holds: each kind (the conditional flow, the conditional
PixelCNN, the stacked colorizer) is a torch file of a dict that names its ``kind``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch


def load_saved(path: str | Path) -> dict[str, Any] | None:
    """The dict a torch file at ``path`` holds; None for anything else (unreadable, not a torch
    file, or not a dict)."""
    try:
        saved = torch.load(Path(path), map_location="cpu", weights_only=True)
    except Exception:  # not a torch file at all
        return None
    return saved if isinstance(saved, dict) else None


def saved_kind(path: str | Path) -> str | None:
    """The ``kind`` the file at ``path`` records (None where it is not such a file)."""
    saved = load_saved(path)
    return None if saved is None else saved.get("kind")

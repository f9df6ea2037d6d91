"""Save and load a zoo model as one self-describing file (registry name, hparams, weights)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from genmodels.contract import GenerativeModel
from genmodels.errors import DataError
from genmodels.registry import get_model_class


def save_model(model: GenerativeModel, path: str | Path) -> Path:
    """Write ``{name, hparams, state_dict}``; the file rebuilds the model without other config."""
    path = Path(path)
    payload: dict[str, Any] = {
        "name": model.name,
        "hparams": dict(model.hparams),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
    }
    torch.save(payload, path)
    return path


def load_model(path: str | Path) -> GenerativeModel:
    """Rebuild a model written by :func:`save_model`, in eval mode."""
    path = Path(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise DataError(f"{path}: model file not found") from None
    except Exception as err:
        raise DataError(f"{path}: not a priorworks model file ({err})") from None
    missing = [
        k
        for k in ("name", "hparams", "state_dict")
        if not isinstance(payload, dict) or k not in payload
    ]
    if missing:
        raise DataError(
            f"{path}: not a priorworks model file (no {', '.join(missing)}; save_model writes "
            "name, hparams and state_dict)"
        )
    hparams = dict(payload["hparams"])
    hparams["image_shape"] = tuple(hparams["image_shape"])
    model = get_model_class(payload["name"])(**hparams)
    model.load_state_dict(payload["state_dict"])
    return model.eval()

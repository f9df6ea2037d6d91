"""Model parameters of a spec checked against the model's constructor, before anything loads."""

from __future__ import annotations

import inspect
from typing import Any, get_type_hints

from pydantic import TypeAdapter, ValidationError


def check_model_params(model: str, params: dict[str, Any]) -> None:
    """Raise ``ValueError`` naming parameters the constructor does not take or values of the wrong
    type for it (e.g. a string outside a ``Literal``)."""
    from genmodels.registry import get_model_class

    cls = get_model_class(model)
    allowed = [
        p
        for p in inspect.signature(cls.__init__).parameters
        if p not in ("self", "image_shape", "levels")
    ]
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise ValueError(
            f"unknown parameter(s) {', '.join(unknown)} for model '{model}'; "
            f"allowed: {', '.join(allowed)}"
        )
    # values against the constructor's type hints (lax: 3 passes for a float), so a wrong type
    # or a value outside a Literal is refused at load time, before any data or training
    hints = get_type_hints(cls.__init__)
    wrong = []
    for key, value in params.items():
        if key in hints:
            try:
                TypeAdapter(hints[key]).validate_python(value)
            except ValidationError as err:
                wrong.append(f"{key}={value!r}: {err.errors()[0]['msg']}")
    # the optimizer's settings, which every trainable model takes the same way
    if "lr" in params and isinstance(params["lr"], int | float) and not params["lr"] > 0:
        wrong.append(f"lr={params['lr']!r}: a learning rate must be > 0")
    decay = params.get("weight_decay")
    if isinstance(decay, int | float) and not decay >= 0:
        wrong.append(f"weight_decay={decay!r}: must be >= 0")
    if wrong:
        raise ValueError(f"bad parameter value(s) for model '{model}': {'; '.join(wrong)}")

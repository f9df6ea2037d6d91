"""Name -> model class, filled by explicit registration (never by scanning subclasses)."""

from __future__ import annotations

import importlib
from typing import Any, TypeVar

from genmodels.contract import GenerativeModel
from genmodels.errors import DuplicateNameError, ParameterError, UnknownNameError
from genmodels.model_index import RegisteredModel

_MODELS: dict[str, type[GenerativeModel]] = {}

# Modules whose import registers the built-in families; loaded on first lookup.
_BUILTIN_MODULES = (
    "genmodels.flow.module",
    "genmodels.classical",
    "genmodels.vae",
    "genmodels.pixelcnn",
    "genmodels.gan",
    "genmodels.diffusion",
)


def _load_builtins() -> None:
    for module in _BUILTIN_MODULES:
        importlib.import_module(module)


M = TypeVar("M", bound=type[GenerativeModel])


def register_model(cls: M) -> M:
    """Class decorator: add a model to the registry under ``cls.name``."""
    if not cls.name:
        raise ValueError(f"{cls.__qualname__} has no `name`; set it before registering")
    if cls.name in _MODELS and _MODELS[cls.name] is not cls:
        raise DuplicateNameError(
            f"model name '{cls.name}' is already registered by {_MODELS[cls.name].__qualname__}"
        )
    _MODELS[cls.name] = cls
    return cls


def get_model_class(name: str) -> type[GenerativeModel]:
    """Look up a model class; unknown names raise an error listing the valid ones."""
    _load_builtins()
    try:
        return _MODELS[name]
    except KeyError:
        raise UnknownNameError("model", name, _MODELS) from None


def build_model(
    cls: type[GenerativeModel],
    image_shape: tuple[int, int, int],
    levels: int,
    params: dict[str, Any],
) -> GenerativeModel:
    """``cls(image_shape, levels, **params)``; a value the constructor refuses becomes a
    :class:`ParameterError` that names the model, the image shape and the parameters."""
    try:
        return cls(image_shape, levels, **params)
    except ValueError as err:
        raise ParameterError(
            f"model '{cls.name}' refused its parameters {params} for images {image_shape}: {err}"
        ) from err


def count_parameters(name: str, image_shape: tuple[int, int, int] = (1, 28, 28)) -> int:
    """Parameter count of a model at its default configuration for ``image_shape``."""
    return get_model_class(name)(image_shape).num_parameters()


def list_models() -> list[RegisteredModel]:
    """All registered models with their declared likelihood kind and capabilities (imports
    every family; ``genmodels.model_index`` reads the same without torch)."""
    _load_builtins()
    return [
        RegisteredModel(
            name=cls.name,
            family=cls.family,
            likelihood=cls.likelihood.value,
            capabilities=tuple(sorted(c.value for c in cls.capabilities)),
            description=cls.description,
        )
        for _, cls in sorted(_MODELS.items())
    ]

"""Errors of the pipeline layer."""

from __future__ import annotations

from genmodels.errors import PriorworksError


class SpecError(PriorworksError):
    """A pipeline spec that does not validate: names the key, the problem and the allowed values."""


class StoreError(PriorworksError):
    """The MLflow store a command reads from does not exist."""

"""Errors raised by the model zoo and the data layer.

Every error a user can cause (a wrong name, a missing capability, a bad file) derives from
:class:`PriorworksError`, so the CLI can turn it into a clear message and exit code 2 instead of a
stack trace.
"""

from __future__ import annotations

from collections.abc import Iterable


class PriorworksError(Exception):
    """Base class of errors caused by user input (specs, names, files, data)."""


class UnknownNameError(PriorworksError, KeyError):
    """A name (model, dataset, task, score) that is not registered."""

    def __init__(self, kind: str, name: str, valid: Iterable[str]) -> None:
        self.kind, self.name, self.valid = kind, name, sorted(valid)
        super().__init__(f"unknown {kind} '{name}'; valid {kind}s: {', '.join(self.valid)}")

    def __str__(self) -> str:  # KeyError would otherwise wrap the message in quotes
        return str(self.args[0])


class DuplicateNameError(PriorworksError):
    """A second registration under a name that is already taken."""


class CapabilityError(PriorworksError):
    """A model was asked for something its family cannot do (e.g. log_prob of a GAN)."""


class DataError(PriorworksError):
    """Bad input data: a missing or corrupt file, wrong channels, NaN/Inf, mixed sizes."""


class ParameterError(PriorworksError, ValueError):
    """A model refused its constructor parameters: a value out of range, or one that does not fit
    the images (e.g. more downsampling scales than the image size allows)."""

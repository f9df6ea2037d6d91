"""The base of every settings section: pydantic models that refuse unknown keys and stay frozen.

A pipeline spec is made of such sections, and each one is the configuration its code reads: a
task's section is that task's config, the data section is the data layer's. Declared once, so a
default cannot differ between the spec and the code that uses it.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """A settings section: unknown keys are refused, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def existing_file(path: str | None, key: str) -> str | None:
    """``path`` unchanged if it is None or names a file; else a ValueError naming ``key``."""
    if path is not None and not Path(path).expanduser().is_file():
        raise ValueError(f"{key}: no such file '{path}'")
    return path

"""Normalizing flows: exact likelihood by change of variables, fast sampling."""

from genmodels.flow.module import RealNVP
from genmodels.flow.network import MultiScaleFlow

__all__ = ["MultiScaleFlow", "RealNVP"]

"""Normalizing flows: exact likelihood by change of variables, fast sampling."""

from genmodels.flow.module import ConditionalRealNVP, RealNVP
from genmodels.flow.network import MultiScaleFlow

__all__ = ["ConditionalRealNVP", "MultiScaleFlow", "RealNVP"]

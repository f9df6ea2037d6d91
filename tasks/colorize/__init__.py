"""Bayesian colorization: p(colour | gray) ∝ p(gray | colour) p(colour), a generative model as
the prior.

Read in order: ``spec.py`` (the settings), ``experiment.py`` (the arms and the entry point),
``inference.py`` (MAP and Langevin sampling), ``priors.py``, ``chroma_flow.py`` and
``regressor.py`` (the arms' models), ``metrics.py`` and ``comparison.py`` (the measures).
"""

from tasks.colorize.color import compose, luma, to_chroma, uniform_chroma
from tasks.colorize.comparison import BASELINE_ARMS, paired_comparison
from tasks.colorize.experiment import ColorizeResult, run, run_colorize
from tasks.colorize.inference import InferenceSpec, langevin, map_colorize, sample_colorize
from tasks.colorize.priors import REQUIREMENT, MeanChromaPrior, ModelPrior, UniformPrior
from tasks.colorize.spec import ARM_NAMES, ColorizeSpec
from tasks.colorize.table import summarize, wide_table
from tasks.registry import TaskDefinition

TASK = TaskDefinition(
    "colorize",
    ColorizeSpec,
    run,
    "gray images coloured by Bayes' rule with the model as the prior, against baselines",
)

__all__ = [
    "ARM_NAMES",
    "BASELINE_ARMS",
    "REQUIREMENT",
    "TASK",
    "ColorizeResult",
    "ColorizeSpec",
    "InferenceSpec",
    "MeanChromaPrior",
    "ModelPrior",
    "UniformPrior",
    "compose",
    "langevin",
    "luma",
    "map_colorize",
    "paired_comparison",
    "run_colorize",
    "sample_colorize",
    "summarize",
    "to_chroma",
    "uniform_chroma",
    "wide_table",
]

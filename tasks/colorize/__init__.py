"""Bayesian colorization: p(colour | gray) ∝ p(gray | colour) p(colour), a generative model as
the prior. Pure task logic; the pipeline (pipelines/colorize_pipeline.py) trains and logs."""

from tasks.colorize.color import compose, luma, to_chroma, uniform_chroma
from tasks.colorize.comparison import BASELINE_ARMS, paired_comparison
from tasks.colorize.conditional import ConditionalConfig
from tasks.colorize.experiment import (
    ARM_NAMES,
    ColorizeConfig,
    ColorizeResult,
    run_colorize,
    summarize,
    wide_table,
)
from tasks.colorize.inference import InferenceConfig, langevin, map_colorize, sample_colorize
from tasks.colorize.priors import REQUIREMENT, MeanChromaPrior, ModelPrior, UniformPrior
from tasks.colorize.regressor import RegressorConfig

__all__ = [
    "ARM_NAMES",
    "BASELINE_ARMS",
    "REQUIREMENT",
    "ColorizeConfig",
    "ColorizeResult",
    "ConditionalConfig",
    "InferenceConfig",
    "MeanChromaPrior",
    "ModelPrior",
    "RegressorConfig",
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

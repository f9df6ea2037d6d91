"""The ``task`` section of a colorization spec: the arms, the posterior inference (the section
extends :class:`~tasks.colorize.inference.InferenceSpec`), the regressor and the two amortized
posteriors (the conditional flow and the conditional PixelCNN)."""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import Field

from genmodels.contract import GenerativeModel
from tasks.colorize.chroma_flow import ConditionalSpec
from tasks.colorize.chroma_pixelcnn import PixelCNNSpec
from tasks.colorize.inference import InferenceSpec
from tasks.colorize.priors import REQUIREMENT
from tasks.colorize.regressor import RegressorSpec
from tasks.spec import TaskSpec

# gray: the gray image itself, zero chroma (doing nothing), the baseline every arm must beat
# conditional-pixelcnn: an autoregressive model of coarse, quantized chroma given gray
ArmName = Literal[
    "gray", "uniform", "mean-chroma", "model", "regressor", "conditional", "conditional-pixelcnn"
]
ARM_NAMES: tuple[ArmName, ...] = get_args(ArmName)
#: the arms a spec runs unless it names them; conditional-pixelcnn is asked for by name (it trains
#: a second posterior model and needs image sides divisible by task.pixelcnn.factor)
DEFAULT_ARMS: tuple[ArmName, ...] = tuple(a for a in ARM_NAMES if a != "conditional-pixelcnn")


class ColorizeSpec(InferenceSpec, TaskSpec):
    """Colorization: gray test images, a posterior per arm, measured against the true colours."""

    name: Literal["colorize"] = "colorize"
    arms: list[ArmName] = Field(default_factory=lambda: list(DEFAULT_ARMS), min_length=1)
    test_images: int = Field(64, ge=1)  # gray test images colorized (a seeded draw)
    grid_images: int = Field(8, ge=0)  # rows of the logged image grid
    regressor: RegressorSpec = Field(default_factory=lambda: RegressorSpec())
    conditional: ConditionalSpec = Field(default_factory=lambda: ConditionalSpec())
    pixelcnn: PixelCNNSpec = Field(default_factory=lambda: PixelCNNSpec())

    def check_model(self, model_cls: type[GenerativeModel]) -> None:
        """Only the ``model`` arm uses the spec's model, as the prior: it needs a likelihood
        differentiable in the pixels."""
        if "model" in self.arms:
            REQUIREMENT.check(model_cls)

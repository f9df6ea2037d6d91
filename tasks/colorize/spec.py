"""The ``task`` section of a colorization spec: the arms, the posterior inference (the section
extends :class:`~tasks.colorize.inference.InferenceSpec`), the regressor and the two amortized
posteriors (the conditional flow and the conditional PixelCNN)."""

from __future__ import annotations

from typing import Literal, Self, get_args

from pydantic import Field, model_validator

from genmodels.contract import GenerativeModel
from tasks.colorize.chroma_flow import ConditionalSpec
from tasks.colorize.chroma_pixelcnn import PixelCNNSpec
from tasks.colorize.inference import InferenceSpec
from tasks.colorize.priors import REQUIREMENT
from tasks.colorize.regressor import RegressorSpec
from tasks.colorize.stacking import StackSpec
from tasks.spec import TaskSpec

# gray: the gray image itself, zero chroma (doing nothing), the baseline every arm must beat
# conditional-pixelcnn: an autoregressive model of coarse, quantized chroma given gray
# stacked: a posterior arm's estimate averaged with the regressor's, weighted on validation
ArmName = Literal[
    "gray",
    "uniform",
    "mean-chroma",
    "model",
    "regressor",
    "conditional",
    "conditional-pixelcnn",
    "stacked",
]
ARM_NAMES: tuple[ArmName, ...] = get_args(ArmName)
#: the arms a spec runs unless it names them; conditional-pixelcnn is asked for by name (it trains
#: a second posterior model and needs image sides divisible by task.pixelcnn.factor), and so is
#: stacked (it names the posterior arm it stacks, task.stack.arm)
DEFAULT_ARMS: tuple[ArmName, ...] = tuple(
    a for a in ARM_NAMES if a not in ("conditional-pixelcnn", "stacked")
)


class ColorizeSpec(InferenceSpec, TaskSpec):
    """Colorization: gray test images, a posterior per arm, measured against the true colours."""

    name: Literal["colorize"] = "colorize"
    arms: list[ArmName] = Field(default_factory=lambda: list(DEFAULT_ARMS), min_length=1)
    test_images: int = Field(64, ge=1)  # gray test images colorized (a seeded draw)
    grid_images: int = Field(8, ge=0)  # rows of the logged image grid
    regressor: RegressorSpec = Field(default_factory=lambda: RegressorSpec())
    conditional: ConditionalSpec = Field(default_factory=lambda: ConditionalSpec())
    pixelcnn: PixelCNNSpec = Field(default_factory=lambda: PixelCNNSpec())
    stack: StackSpec = Field(default_factory=lambda: StackSpec())

    @model_validator(mode="after")
    def _stacked_after_its_posterior(self) -> Self:
        if "stacked" in self.arms:
            posterior = self.stack.arm
            if posterior not in self.arms or (
                self.arms.index(posterior) > self.arms.index("stacked")
            ):
                raise ValueError(
                    f"arm 'stacked' averages arm '{posterior}' (task.stack.arm) with the "
                    f"regressor: list '{posterior}' before 'stacked' in task.arms"
                )
        return self

    def check_model(self, model_cls: type[GenerativeModel]) -> None:
        """Only the ``model`` arm uses the spec's model, as the prior: it needs a likelihood
        differentiable in the pixels."""
        if "model" in self.arms:
            REQUIREMENT.check(model_cls)

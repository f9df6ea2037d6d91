"""What a task receives: its own spec section, the seed, the data, and a trainer for the spec's
generative model. Never the whole pipeline spec, never MLflow."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from genmodels.contract import GenerativeModel
from genmodels.data.imageset import ImageSet
from genmodels.training import FitResult
from tasks.spec import TaskSpec

S = TypeVar("S", bound=TaskSpec)


class ModelTrainer(Protocol):
    """Builds and trains the spec's generative model (``model`` and ``train`` sections).

    The pipeline implements it: a recorded training runs in its own tracked stage, is reused when
    an identical one finished before, resumes from its checkpoint after a crash, and is replaced
    by the spec's ``model.weights`` file where one is given (for the ``model`` role).
    """

    model_cls: type[GenerativeModel]
    params: Mapping[str, Any]  # the spec's model.params
    batch_size: int  # the spec's train.batch_size (to size a training by its number of steps)

    def build(
        self,
        image_shape: tuple[int, int, int],
        levels: int,
        seed: int,
        num_classes: int | None = None,
        overrides: Mapping[str, Any] | None = None,
    ) -> GenerativeModel:
        """A new model of the spec's class and parameters (``overrides`` on top), initialized
        under ``seed``; class-conditional models get ``num_classes`` unless the spec sets it."""
        ...

    def fit(
        self,
        model: GenerativeModel,
        train: ImageSet,
        val: ImageSet,
        role: str = "model",
        max_epochs: int | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> FitResult:
        """Train ``model`` as a recorded stage named by its ``role`` (``params``: what it was
        built with, where that is not the spec's ``model.params``)."""
        ...

    def fit_unrecorded(
        self, model: GenerativeModel, train: ImageSet, val: ImageSet, seed: int
    ) -> FitResult:
        """Train ``model`` with the spec's training settings and nothing recorded (for the many
        small fits of a protocol, such as one generator per few-shot draw)."""
        ...


@dataclass(frozen=True)
class TaskInputs(Generic[S]):
    """Everything a task's ``run`` gets.

    Attributes:
        spec: the task's own section of the pipeline spec.
        seed: the pipeline's seed.
        data: the data section's splits (``train``, ``val``, ``test``).
        data_name: the data set's name, for messages.
        models: builds and trains the spec's generative model.
        log: prints a progress line.
    """

    spec: S
    seed: int
    data: Mapping[str, ImageSet]
    data_name: str
    models: ModelTrainer
    log: Callable[[str], None] = print

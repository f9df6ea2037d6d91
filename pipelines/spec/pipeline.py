"""Pipeline specs: YAML validated at load into typed objects.

A spec has five sections (``data``, ``model``, ``train``, ``task``, ``output``) plus a name and a
seed. The ``task`` section is the section of the task it names, as that task declares it
(``tasks/<task>/spec.py``, found through the task registry). Every key is checked: an unknown key
names itself and the allowed keys, a bad value names its key and the allowed values.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from typing import Annotated, Any, Union

from pydantic import Field, create_model, field_validator, model_validator

from genmodels.data.spec import DataSpec
from genmodels.settings import Section
from pipelines.spec.model_params import check_model_params
from pipelines.spec.sections import ModelSpec, OutputSpec, TrainSpec
from tasks.registry import all_tasks, get_task
from tasks.spec import TaskSpec

DEFAULT_TASK = "anomaly"


def _default_task() -> TaskSpec:
    return get_task(DEFAULT_TASK).spec.model_validate({})


class PipelineSpec(Section):
    """A whole pipeline. Validate a mapping with :meth:`from_tree` (``task`` then becomes the
    section of the task it names)."""

    name: str
    seed: int = 0
    # Load a trained model from a FINISHED run with the same model/train sections, seed, role and
    # data fingerprint instead of training again (`priorworks run --retrain` sets it false).
    reuse: bool = True
    data: DataSpec = Field(default_factory=lambda: DataSpec())
    model: ModelSpec = Field(default_factory=lambda: ModelSpec())
    train: TrainSpec = Field(default_factory=lambda: TrainSpec())
    task: TaskSpec = Field(default_factory=_default_task)
    output: OutputSpec = Field(default_factory=lambda: OutputSpec())

    @classmethod
    def from_tree(cls, tree: dict[str, Any]) -> PipelineSpec:
        """Validate a spec mapping against the registered tasks' sections (raises pydantic's
        ValidationError)."""
        return cls.model_validate(tree)

    @classmethod
    def model_validate(cls, obj: Any, *args: Any, **kwargs: Any) -> PipelineSpec:
        """Validated against the registered tasks' sections, also when called on this class."""
        if cls is PipelineSpec:
            sections = tuple(t.spec for t in all_tasks().values())
            return _with_task_sections(sections).model_validate(obj, *args, **kwargs)
        return super().model_validate(obj, *args, **kwargs)

    @field_validator("name")
    @classmethod
    def _a_name_for_files(cls, v: str) -> str:
        """The name names runs, locks and release folders: letters, digits, '.', '_', '-'."""
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}", v):
            raise ValueError(
                f"'{v}' cannot name files: use up to 100 letters, digits, '.', '_' or '-', "
                "starting with a letter or digit"
            )
        return v

    @field_validator("task", mode="before")
    @classmethod
    def _known_task(cls, v: Any) -> Any:
        if isinstance(v, dict):
            tasks = all_tasks()
            name = v.get("name", DEFAULT_TASK)
            if not isinstance(name, str) or name not in tasks:
                raise ValueError(f"unknown task {name!r}; valid tasks: {', '.join(tasks)}")
            return {"name": DEFAULT_TASK, **v}
        return v

    @model_validator(mode="after")
    def _task_model_params(self) -> PipelineSpec:
        for key, params in self.task.model_param_sections().items():
            if params:
                try:
                    check_model_params(self.model.name, params)
                except ValueError as err:
                    raise ValueError(f"{key}: {err}") from None
        return self

    @model_validator(mode="after")
    def _weights_keep_the_protocol(self) -> PipelineSpec:
        refused = self.task.weights_refused
        if self.model.weights is not None and refused is not None:
            raise ValueError(
                f"model.weights: task '{self.task.name}' {refused}, so it cannot take a model "
                "trained elsewhere"
            )
        return self

    def config_hash(self) -> str:
        """Stable short hash of the validated spec (defaults included)."""
        text = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def flat_params(self) -> dict[str, str]:
        """The spec flattened to ``section.key`` strings, for MLflow params."""
        return flatten(self.model_dump(mode="json"))


@functools.cache
def _with_task_sections(sections: tuple[type[TaskSpec], ...]) -> type[PipelineSpec]:
    """PipelineSpec whose ``task`` is the union of ``sections``, told apart by ``name``."""
    union = Annotated[Union[sections], Field(discriminator="name")]  # type: ignore[valid-type]  # noqa: UP007
    return create_model(
        "PipelineSpec", __base__=PipelineSpec, task=(union, Field(default_factory=_default_task))
    )


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = json.dumps(value) if isinstance(value, list | dict) else str(value)
    return out

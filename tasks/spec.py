"""The base of a task's spec section: the one declaration of the task's settings.

Each task folder defines its section in ``tasks/<task>/spec.py`` as a subclass of
:class:`TaskSpec`; the pipeline spec's ``task`` key is validated against the section of the task
it names, and the task's code reads the validated section directly (there is no second copy of
the settings to drift from it).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar, get_args

from genmodels.contract import GenerativeModel
from genmodels.settings import Section
from tasks.requirements import TaskRequirement


class TaskSpec(Section):
    """A task's section of a pipeline spec. Subclasses narrow ``name`` to a ``Literal``."""

    name: str

    #: what the task needs of the spec's model, checked before any data or weights load
    requirement: ClassVar[TaskRequirement | None] = None
    #: why this task cannot take a model trained elsewhere (``model.weights``); None: it can
    weights_refused: ClassVar[str | None] = None

    def model_param_sections(self) -> dict[str, dict[str, Any]]:
        """Parameters for the spec's model that the section holds, by key (checked against the
        model's constructor like ``model.params``); none by default."""
        return {}

    def check_model(self, model_cls: type[GenerativeModel]) -> None:
        """Raise :class:`~genmodels.errors.CapabilityError` when the settings cannot use a model
        of this class (default: the class-level :attr:`requirement`)."""
        if self.requirement is not None:
            self.requirement.check(model_cls)


def same_names(literal: Any, implemented: Iterable[str], what: str) -> tuple[str, ...]:
    """The names of a ``Literal`` type, checked against the names a task implements (a dict of
    baselines, a table of scores): one list of names, two views that cannot drift apart."""
    declared = tuple(get_args(literal))
    if set(declared) != set(implemented):
        raise RuntimeError(
            f"{what}: the spec's names {sorted(declared)} differ from the implemented "
            f"{sorted(implemented)}"
        )
    return declared

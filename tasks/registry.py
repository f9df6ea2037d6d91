"""The task registry: every folder under ``tasks/`` is one task, declared once in its
``__init__.py`` as ``TASK = TaskDefinition(...)``.

The pipeline spec's ``task`` section, the command line's list of tasks and the runner are built
from this registry, so adding a task is a new folder (see ``docs/adding-a-task.md``). Discovery
imports each sub-package of ``tasks``; a folder without a ``TASK``, a ``TASK`` named unlike its
folder, or two tasks of one name are errors, never skipped.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import tasks
from genmodels.errors import DuplicateNameError, UnknownNameError
from tasks.inputs import TaskInputs
from tasks.result import TaskResult
from tasks.spec import TaskSpec


@dataclass(frozen=True)
class TaskDefinition:
    """One task, as its folder declares it.

    Attributes:
        name: the task's name (``task.name`` in a spec), the same as its folder's.
        spec: the task's spec section, a :class:`~tasks.spec.TaskSpec` subclass whose ``name``
            field is ``Literal[name]``.
        run: the entry point: the task's inputs in, its result out.
        summary: one line for ``priorworks tasks``.
    """

    name: str
    spec: type[TaskSpec]
    run: Callable[[TaskInputs[Any]], TaskResult]
    summary: str

    def __post_init__(self) -> None:
        declared = self.spec.model_fields["name"].default
        if declared != self.name:
            raise ValueError(
                f"task '{self.name}': its spec section {self.spec.__name__} is named "
                f"'{declared}' (the section's `name` must default to the task's name)"
            )


def _discover() -> dict[str, TaskDefinition]:
    found: dict[str, TaskDefinition] = {}
    for module in sorted(pkgutil.iter_modules(tasks.__path__), key=lambda m: m.name):
        if not module.ispkg:
            continue  # shared modules (classifier, few-shot draws, ...) beside the task folders
        package = importlib.import_module(f"tasks.{module.name}")
        definition = getattr(package, "TASK", None)
        if not isinstance(definition, TaskDefinition):
            raise TypeError(
                f"tasks/{module.name}/ is a task folder, so its __init__.py must define "
                "TASK = TaskDefinition(...)"
            )
        if definition.name != module.name:
            raise ValueError(f"tasks/{module.name}/ declares a task named '{definition.name}'")
        if definition.name in found:
            raise DuplicateNameError(f"two tasks are named '{definition.name}'")
        found[definition.name] = definition
    return found


_TASKS: dict[str, TaskDefinition] | None = None


def all_tasks() -> dict[str, TaskDefinition]:
    """Every task by name (found once per process, in folder order)."""
    global _TASKS
    if _TASKS is None:
        _TASKS = _discover()
    return dict(_TASKS)


def get_task(name: str) -> TaskDefinition:
    """The task called ``name``; an error listing the tasks if there is none."""
    tasks_by_name = all_tasks()
    if name not in tasks_by_name:
        raise UnknownNameError("task", name, tasks_by_name)
    return tasks_by_name[name]


def refresh() -> dict[str, TaskDefinition]:
    """Discover the task folders again (after ``tasks.__path__`` gained a folder)."""
    global _TASKS
    _TASKS = None
    return all_tasks()

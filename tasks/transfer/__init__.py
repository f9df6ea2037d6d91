"""Knowledge transfer from a deep teacher to a kernel-machine student through generated images.

Read in order: ``spec.py`` (the settings), ``experiment.py`` (the protocol and the entry point),
``students.py`` (the kernel machines).
"""

from tasks.registry import TaskDefinition
from tasks.transfer.experiment import (
    MODES,
    confused_pairs,
    focused_order,
    run,
    run_transfer,
    summarize,
)
from tasks.transfer.spec import TransferSpec
from tasks.transfer.students import STUDENT_NAMES, make_student

TASK = TaskDefinition(
    "transfer",
    TransferSpec,
    run,
    "a CNN teacher labels generated images; kernel-machine students learn from them",
)

__all__ = [
    "MODES",
    "STUDENT_NAMES",
    "TASK",
    "TransferSpec",
    "confused_pairs",
    "focused_order",
    "make_student",
    "run_transfer",
    "summarize",
]

"""Data augmentation with generated samples, measured against real-only and classic augmentation.

Read in order: ``spec.py`` (the settings), ``experiment.py`` (the protocol and the entry point);
the classic warps every generated arm must beat are shared with other tasks: ``tasks/warps.py``.
"""

from tasks.augment.experiment import run, run_augment, summarize
from tasks.augment.spec import ARMS, AugmentSpec
from tasks.registry import TaskDefinition

TASK = TaskDefinition(
    "augment",
    AugmentSpec,
    run,
    "k labelled images per class: real vs real + generated vs classic warps, over seeds",
)

__all__ = ["ARMS", "TASK", "AugmentSpec", "run_augment", "summarize"]

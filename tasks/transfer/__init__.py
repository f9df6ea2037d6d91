"""Knowledge transfer from a deep teacher to a kernel-machine student through generated images.
Pure task logic; the pipeline (pipelines/transfer_pipeline.py) trains and logs."""

from tasks.transfer.experiment import (
    MODES,
    TransferConfig,
    confused_pairs,
    focused_order,
    run_transfer,
    summarize,
)
from tasks.transfer.students import STUDENT_NAMES, make_student

__all__ = [
    "MODES",
    "STUDENT_NAMES",
    "TransferConfig",
    "confused_pairs",
    "focused_order",
    "make_student",
    "run_transfer",
    "summarize",
]

"""Sharing a synthetic data set (or the model) instead of private data.

Read in order: ``spec.py`` (the settings), ``experiment.py`` (the entry point), ``audit.py``
(fidelity, utility, privacy, compression), ``gate.py`` (the release gate), ``datasheet.py``.
The pipeline writes the bundle the task hands it (only when the gate passed).
"""

from tasks.registry import TaskDefinition
from tasks.share.audit import Audit, audit_release, log_likelihoods
from tasks.share.datasheet import build_datasheet, to_markdown
from tasks.share.experiment import run
from tasks.share.gate import ReleaseGate
from tasks.share.privacy import distance_audit, membership_auc
from tasks.share.spec import ShareSpec

TASK = TaskDefinition(
    "share",
    ShareSpec,
    run,
    "a synthetic data set instead of the private one: audit, release gate, versioned bundle",
)

__all__ = [
    "TASK",
    "Audit",
    "ReleaseGate",
    "ShareSpec",
    "audit_release",
    "build_datasheet",
    "distance_audit",
    "log_likelihoods",
    "membership_auc",
    "to_markdown",
]

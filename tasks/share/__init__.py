"""Sharing a synthetic data set (or the model) instead of private data: the audit (fidelity,
utility, privacy, compression), the release gate and the datasheet. Pure task logic; the pipeline
(pipelines/share_pipeline.py) writes the bundle and logs it."""

from tasks.share.audit import Audit, AuditConfig, audit_release, log_likelihoods
from tasks.share.datasheet import build_datasheet, to_markdown
from tasks.share.gate import ReleaseGate
from tasks.share.privacy import distance_audit, membership_auc

__all__ = [
    "Audit",
    "AuditConfig",
    "ReleaseGate",
    "audit_release",
    "build_datasheet",
    "distance_audit",
    "log_likelihoods",
    "membership_auc",
    "to_markdown",
]

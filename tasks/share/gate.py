"""The release gate: thresholds on the audit that a bundle must pass before it is written."""

from __future__ import annotations

from pydantic import Field

from genmodels.settings import Section


class ReleaseGate(Section):
    """The ``gate`` of a share spec; ``None`` disables a check. Defaults: at most 1% memorized
    samples, membership AUC <= 0.6."""

    max_memorization_rate: float | None = Field(0.01, ge=0, le=1)
    max_membership_auc: float | None = Field(0.6, ge=0, le=1)
    # train-on-synthetic / train-on-real test accuracy
    min_utility_ratio: float | None = Field(None, ge=0)
    # differential privacy of the training (DP-SGD, train.privacy); a model trained without it
    # has epsilon = inf and fails this check
    max_dp_epsilon: float | None = Field(None, gt=0)

    def failures(self, metrics: dict[str, float]) -> list[str]:
        """Every failed check as a sentence naming the metric, its value and the limit."""
        out = []
        checks = (
            ("memorization_rate", self.max_memorization_rate, "at most"),
            ("membership_auc", self.max_membership_auc, "at most"),
            ("utility_ratio", self.min_utility_ratio, "at least"),
            ("dp_epsilon", self.max_dp_epsilon, "at most"),
        )
        for key, limit, relation in checks:
            if limit is None:
                continue
            if key not in metrics:
                out.append(f"{key} was not measured but the gate needs it ({relation} {limit})")
                continue
            value = metrics[key]
            bad = value > limit if relation == "at most" else value < limit
            if bad:
                out.append(f"{key} = {value:.4f}, the gate allows {relation} {limit}")
        return out

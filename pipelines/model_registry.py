"""The MLflow model registry: every registered anomaly model is a version, the best one has the
alias ``champion``, so ``priorworks score --model models:/<name>@champion`` always scores with it.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

import mlflow

CHAMPION = "champion"
METRIC_TAG = "auroc"


@dataclass(frozen=True)
class Promotion:
    name: str
    version: str
    auroc: float
    previous: float | None  # the champion's AUROC before this run; None if there was none
    promoted: bool

    @property
    def message(self) -> str:
        where = f"models:/{self.name}@{CHAMPION}"
        if self.promoted:
            before = "no champion before" if self.previous is None else f"was {self.previous:.4f}"
            return (
                f"registered {self.name} v{self.version}: now {where} "
                f"(AUROC {self.auroc:.4f}; {before})"
            )
        return (
            f"registered {self.name} v{self.version} (AUROC {self.auroc:.4f}); {where} stays "
            f"(AUROC {self.previous:.4f})"
        )

    def tags(self) -> dict[str, str]:
        return {
            "registered_model": self.name,
            "registered_version": self.version,
            "champion": str(self.promoted).lower(),
        }


def _champion_auroc(client: MlflowClient, name: str) -> float | None:
    try:
        current = client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        return None
    value = current.tags.get(METRIC_TAG)
    return float(value) if value is not None else None


def promote_if_better(name: str, model_uri: str, auroc: float) -> Promotion:
    """Register ``model_uri`` as a new version of ``name``; move ``champion`` to it when its
    AUROC is higher than the champion's (ties keep the current champion)."""
    client = MlflowClient()
    previous = _champion_auroc(client, name)
    version = mlflow.register_model(model_uri, name).version
    client.set_model_version_tag(name, version, METRIC_TAG, repr(float(auroc)))
    promoted = previous is None or auroc > previous
    if promoted:
        client.set_registered_model_alias(name, CHAMPION, version)
    return Promotion(name, str(version), float(auroc), previous, promoted)

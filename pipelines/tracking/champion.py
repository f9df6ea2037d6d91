"""The MLflow model registry: every registered anomaly model is a version, the best one has the
alias ``champion``, so ``priorworks score --model models:/<name>@champion`` always scores with it.

Each version carries the number it was judged by as a tag: ``auroc`` (test AUROC of the primary
score), ``val_auroc`` (validation AUROC, under ``task.select_by: validation``) or
``synthetic_auroc`` or another synthetic-anomaly number (under ``select_by: synthetic``, by its
``synthetic_rule``). A new version
is compared with the champion on the same number only; a champion judged by another number is not
comparable and keeps the alias until a user moves it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

import mlflow

CHAMPION = "champion"
METRICS = (
    "auroc",
    "val_auroc",
    "synthetic_auroc",
    "synthetic_local_auroc",
    "synthetic_global_auroc",
    "synthetic_mean_kind_auroc",
    "synthetic_worst_kind_auroc",
)


@dataclass(frozen=True)
class Promotion:
    name: str
    version: str
    metric: str  # the number the versions are compared by, one of METRICS
    value: float
    previous: float | None  # the champion's value before this run; None if not comparable
    had_champion: bool
    promoted: bool

    @property
    def message(self) -> str:
        where = f"models:/{self.name}@{CHAMPION}"
        this = f"registered {self.name} v{self.version} ({self.metric} {self.value:.4f})"
        if self.promoted:
            before = "no champion before" if not self.had_champion else f"was {self.previous:.4f}"
            return f"{this}: now {where} ({before})"
        if self.previous is None:
            return (
                f"{this}; {where} stays: it was not judged by {self.metric}, so the two are not "
                f"compared (set the alias by hand to change it)"
            )
        return f"{this}; {where} stays ({self.metric} {self.previous:.4f})"

    def tags(self) -> dict[str, str]:
        return {
            "registered_model": self.name,
            "registered_version": self.version,
            "champion": str(self.promoted).lower(),
        }


def _champion_value(client: MlflowClient, name: str, metric: str) -> tuple[bool, float | None]:
    """Whether ``name`` has a champion, and its ``metric`` (None when it has none)."""
    try:
        current = client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        return False, None
    value = current.tags.get(metric)
    return True, float(value) if value is not None else None


def promote_if_better(name: str, model_uri: str, value: float, metric: str = "auroc") -> Promotion:
    """Register ``model_uri`` as a new version of ``name``; move ``champion`` to it when there is
    none, or when its ``metric`` is higher than the champion's (ties keep the champion)."""
    if metric not in METRICS:
        raise ValueError(f"unknown selection metric '{metric}'; expected one of {list(METRICS)}")
    client = MlflowClient()
    version = mlflow.register_model(model_uri, name).version
    client.set_model_version_tag(name, version, metric, repr(float(value)))
    # Two pipelines may promote into one name at once. A database that is not serialized
    # (PostgreSQL behind a tracking server) then refuses the second alias write as a duplicate
    # key: read the champion again, decide again, write again.
    for attempt in range(_ATTEMPTS):
        had_champion, previous = _champion_value(client, name, metric)
        promoted = not had_champion or (previous is not None and value > previous)
        if not promoted:
            break
        try:
            client.set_registered_model_alias(name, CHAMPION, version)
            break
        except MlflowException as err:
            if attempt == _ATTEMPTS - 1 or not any(k in str(err) for k in _CONCURRENT_WRITE):
                raise
            time.sleep(0.2 * (attempt + 1))
    return Promotion(name, str(version), metric, float(value), previous, had_champion, promoted)


_ATTEMPTS = 5
_CONCURRENT_WRITE = ("UniqueViolation", "duplicate key", "UNIQUE constraint failed")

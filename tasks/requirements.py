"""What a task needs from a model, checked on the class before any weights load."""

from __future__ import annotations

from dataclasses import dataclass

from genmodels.contract import Capability, GenerativeModel, Likelihood
from genmodels.errors import CapabilityError


@dataclass(frozen=True)
class TaskRequirement:
    """Declared needs of a task.

    Attributes:
        task: the task's name, for messages.
        likelihoods: accepted likelihood kinds (empty: any).
        capabilities: capabilities the model must declare.
    """

    task: str
    likelihoods: frozenset[Likelihood] = frozenset()
    capabilities: frozenset[Capability] = frozenset()

    def check(self, model_cls: type[GenerativeModel]) -> None:
        """Raise :class:`CapabilityError` naming everything the model lacks."""
        missing = []
        if self.likelihoods and model_cls.likelihood not in self.likelihoods:
            wanted = " or ".join(sorted(k.value.upper() for k in self.likelihoods))
            missing.append(f"a likelihood ({wanted}; it has {model_cls.likelihood.value.upper()})")
        lacking = sorted(c.value for c in self.capabilities - model_cls.capabilities)
        if lacking:
            missing.append(f"capabilities {', '.join(lacking)}")
        if missing:
            raise CapabilityError(
                f"task '{self.task}' cannot use model '{model_cls.name}': it needs "
                + " and ".join(missing)
            )

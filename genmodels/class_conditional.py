"""What every class-conditional model shares: a class prior, label checks, the marginal score.

A conditional model learns ``p(x | y)`` from labelled images. Without a label it still scores:
``log p(x) = log sum_y pi_y p(x | y)`` with ``pi`` the training label frequencies, exact for
EXACT models and a valid lower bound for BOUND ones (each term is bounded from below).
Validation (early stopping, checkpoint choice) uses ``log p(x | y)`` at the known labels.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from genmodels.contract import GenerativeModel, Likelihood, bits_per_dim


class ClassConditional(GenerativeModel):
    """Mixin base: call ``_init_classes(num_classes)`` in ``__init__``."""

    num_classes: int
    log_class_prior: Tensor

    def _init_classes(self, num_classes: int) -> None:
        if num_classes < 1:
            raise ValueError(f"a conditional model needs num_classes >= 1, got {num_classes}")
        self.num_classes = num_classes
        self.register_buffer("log_class_prior", torch.full((num_classes,), -math.log(num_classes)))

    def on_train_start(self) -> None:
        # The class prior of the marginal: label frequencies of the training data (+1 smoothing).
        loader = self.trainer.train_dataloader
        batches = list(loader) if loader is not None else []
        if not batches or len(batches[0]) < 2:
            raise ValueError(
                f"model '{self.name}' trains on labelled images; the data has no labels"
            )
        labels = torch.cat([b[1] for b in batches])
        if int(labels.max()) >= self.num_classes:
            raise ValueError(
                f"model '{self.name}' has num_classes={self.num_classes} but the data has label "
                f"{int(labels.max())}"
            )
        counts = torch.bincount(labels, minlength=self.num_classes).float() + 1.0
        self.log_class_prior.copy_(torch.log(counts / counts.sum()))

    def labels_of(self, batch: tuple[Tensor, ...]) -> Tensor:
        if len(batch) < 2:
            raise ValueError(
                f"model '{self.name}' trains on labelled images; the batch has no labels"
            )
        return batch[1]

    def resolve_condition(
        self, n: int, condition: Tensor | None, generator: torch.Generator | None
    ) -> Tensor:
        """Validated labels ``(n,)``; drawn from the class prior when ``condition`` is None."""
        if condition is None:
            prior = self.log_class_prior.exp().cpu()
            drawn = torch.multinomial(prior, n, replacement=True, generator=generator)
            return drawn.to(self.device)
        condition = torch.as_tensor(condition, device=self.device).long()
        if condition.shape != (n,) or condition.min() < 0 or condition.max() >= self.num_classes:
            raise ValueError(
                f"condition must be {n} labels in [0, {self.num_classes - 1}], "
                f"got {condition.tolist()}"
            )
        return condition

    def conditional_log_likelihood(self, x: Tensor, labels: Tensor) -> Tensor:
        """``log p(x | y)`` per example (a lower bound for BOUND models) at the given labels."""
        raise self._refuse("conditional_log_likelihood")

    def validation_step(self, batch: tuple[Tensor, ...], batch_idx: int) -> Tensor | None:
        """Validate on ``log p(x | y)`` at the known labels, the quantity training maximizes:
        one pass instead of the marginal's one per class (ten times cheaper on ten classes)."""
        if self.likelihood is Likelihood.NONE or len(batch) < 2:
            return super().validation_step(batch, batch_idx)
        bpd = bits_per_dim(self.conditional_log_likelihood(batch[0], batch[1]), self.num_dims)
        self.log(
            "val_bpd",
            bpd.mean(),
            on_epoch=True,
            prog_bar=True,
            batch_size=len(batch[0]),
            sync_dist=True,
        )
        return bpd.mean()

    def marginal(self, per_class: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
        """``log sum_y pi_y exp(per_class(y))`` per example, one pass per class."""
        scores = torch.stack(
            [
                per_class(torch.full((x.shape[0],), k, device=x.device, dtype=torch.long))
                for k in range(self.num_classes)
            ]
        )
        return torch.logsumexp(scores + self.log_class_prior[:, None].to(scores), dim=0)

"""The pipeline's own sections of a spec: the model, its training (with differential privacy)
and where results go. The ``data`` section belongs to the data layer
(:class:`genmodels.data.spec.DataSpec`), the ``task`` section to its task."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from genmodels.private import PrivacyConfig, PrivacyError
from genmodels.settings import Section, existing_file
from genmodels.training import TrainConfig
from pipelines.spec.model_params import check_model_params


class ModelSpec(Section):
    """A model of the zoo by registry name, with constructor parameters."""

    name: str = "realnvp"
    params: dict[str, Any] = Field(default_factory=dict)
    # a priorworks model file (genmodels.persistence, e.g. a run's model_file/model.pt) trained
    # elsewhere, say on a GPU machine: the pipeline loads it instead of training the main model
    weights: str | None = None

    @field_validator("weights")
    @classmethod
    def _weights_file_exists(cls, v: str | None) -> str | None:
        return existing_file(v, "model.weights")

    @field_validator("name")
    @classmethod
    def _known_model(cls, v: str) -> str:
        from genmodels.registry import get_model_class

        try:
            get_model_class(v)
        except KeyError as err:
            raise ValueError(str(err)) from None
        return v

    @model_validator(mode="after")
    def _known_params(self) -> ModelSpec:
        check_model_params(self.name, self.params)
        return self


class PrivacySpec(Section):
    """DP-SGD through Opacus (``genmodels.private``): exactly one of ``noise_multiplier`` and
    ``target_epsilon``; ``delta`` null means ``1 / (10 n)`` for n training images."""

    max_grad_norm: float = Field(1.0, gt=0)
    noise_multiplier: float | None = Field(None, gt=0)
    target_epsilon: float | None = Field(None, gt=0)
    delta: float | None = Field(None, gt=0, lt=1)

    @model_validator(mode="after")
    def _valid_for_training(self) -> PrivacySpec:
        """The rules live in ``PrivacyConfig``; checked here so a bad spec fails at load time."""
        try:
            PrivacyConfig(**self.model_dump())
        except PrivacyError as err:
            raise ValueError(str(err)) from None
        return self


class TrainSpec(Section):
    """Lightning training settings (the optimizer's settings are model parameters)."""

    max_epochs: int = Field(50, ge=1)
    batch_size: int = Field(64, ge=1)
    patience: int = Field(10, ge=0)
    gradient_clip: float | None = Field(100.0, gt=0)
    limit_train_batches: int | None = Field(None, ge=1)
    progress_bar: bool = False
    accelerator: Literal["cpu", "gpu", "auto"] = "cpu"
    devices: int = Field(1, ge=1)  # > 1 with strategy ddp_spawn (CPU, gloo) or ddp (GPUs)
    num_nodes: int = Field(1, ge=1)  # > 1: machines of a multi-node launch (strategy ddp)
    strategy: Literal["auto", "ddp", "ddp_spawn"] = "auto"
    privacy: PrivacySpec | None = None  # differentially private training (DP-SGD)

    @model_validator(mode="after")
    def _nodes_need_ddp(self) -> TrainSpec:
        if self.num_nodes > 1 and self.strategy != "ddp":
            raise ValueError(
                f"train.num_nodes={self.num_nodes} needs train.strategy: ddp (every node runs "
                "the same command; see docs/operations.md, 'Training across machines')"
            )
        return self

    def config(self, **overrides: Any) -> TrainConfig:
        """The training settings for :func:`genmodels.training.fit_model`."""
        settings = {**self.model_dump(), **overrides}
        privacy = settings.pop("privacy")
        return TrainConfig(**settings, privacy=PrivacyConfig(**privacy) if privacy else None)


class OutputSpec(Section):
    """Where results go."""

    experiment: str = "priorworks"
    sample_grid: int = Field(64, ge=0)
    log_model: bool = True
    # Register the logged model under this name in the MLflow model registry; the alias
    # `champion` moves to it when its primary-score AUROC beats the current champion's.
    registered_model: str | None = None
    # Also export a logged anomaly detector to ONNX (one file, `priorworks score --runtime
    # onnx`); a model that does not export is logged without it and tagged `onnx` with why.
    onnx: bool = True

    @model_validator(mode="after")
    def _registry_needs_a_model(self) -> OutputSpec:
        if self.registered_model and not self.log_model:
            raise ValueError("output.registered_model needs output.log_model: true")
        return self

"""Pipeline specs: YAML validated at load into typed objects.

A spec has five sections (``data``, ``model``, ``train``, ``task``, ``output``) plus a name and a
seed. Every key is checked: an unknown key names itself and the allowed keys, a bad value names
its key and the allowed values.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal, get_args

from pydantic import Field, field_validator, model_validator

from genmodels.private import PrivacyConfig, PrivacyError
from genmodels.training import TrainConfig
from pipelines.anomaly_spec import AnomalyTaskSpec
from pipelines.model_params import check_model_params
from pipelines.spec_sections import DataSpec, Section, existing_file
from tasks.augment.experiment import ARMS, ArmName
from tasks.colorize.inference import InferenceConfig

TASKS = ("anomaly", "augment", "colorize", "transfer", "share")
ARM_NAMES: tuple[ArmName, ...] = ARMS
ColorizeArm = Literal["uniform", "mean-chroma", "model", "regressor", "conditional"]
COLORIZE_ARMS: tuple[ColorizeArm, ...] = get_args(ColorizeArm)
#: Tasks whose protocol fixes what the generative model may be trained on.
WEIGHTS_REFUSED = {
    "augment": "fits its generator on the k labelled images of each draw only",
    "share": "measures privacy and utility of a model trained on the private split itself",
}


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
    strategy: Literal["auto", "ddp", "ddp_spawn"] = "auto"
    privacy: PrivacySpec | None = None  # differentially private training (DP-SGD)

    def config(self, **overrides: Any) -> TrainConfig:
        """The training settings for :func:`genmodels.training.fit_model`."""
        settings = {**self.model_dump(), **overrides}
        privacy = settings.pop("privacy")
        return TrainConfig(**settings, privacy=PrivacyConfig(**privacy) if privacy else None)


class ClassifierSpec(Section):
    """The one classifier recipe every augmentation arm trains."""

    max_epochs: int = Field(40, ge=1)
    batch_size: int = Field(64, ge=1)
    patience: int = Field(8, ge=0)
    lr: float = Field(2e-3, gt=0)
    width: int = Field(32, ge=1)


def _default_ks() -> list[int | Literal["all"]]:
    return [10, 50]


class AugmentTaskSpec(Section):
    """Augmentation: k labelled images per class, arms compared over seeds on the test split."""

    name: Literal["augment"] = "augment"
    ks: list[int | Literal["all"]] = Field(default_factory=lambda: _default_ks(), min_length=1)
    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2], min_length=1)
    multiplier: float = Field(1.0, gt=0)  # generated images per real training image
    arms: list[ArmName] = Field(default_factory=lambda: list(ARM_NAMES), min_length=1)
    filter_threshold: float = Field(0.9, gt=0, le=1)
    flips: bool = False  # horizontal flips in classic augmentation (not for digits)
    generator_copies: int = Field(0, ge=0)  # classic-augmented copies in the generator's data
    pretrain_multiplier: float = Field(25.0, gt=0)  # generated per real image, pretraining set
    classifier: ClassifierSpec = Field(default_factory=lambda: ClassifierSpec())

    @field_validator("ks")
    @classmethod
    def _k_at_least_two(cls, v: list[int | str]) -> list[int | str]:
        bad = [k for k in v if isinstance(k, int) and k < 2]
        if bad:
            raise ValueError(f"every k must be >= 2 (one to fit, one to validate), got {bad}")
        return v


class RegressorSpec(Section):
    """The discriminative colorizer (gray -> chroma CNN) of the ``regressor`` arm."""

    max_epochs: int = Field(30, ge=1)
    batch_size: int = Field(64, ge=1)
    patience: int = Field(5, ge=0)
    lr: float = Field(2e-3, gt=0)
    width: int = Field(32, ge=1)


class ConditionalSpec(Section):
    """The ``conditional`` arm: a flow of chroma given gray trained on the same colour images."""

    max_epochs: int = Field(20, ge=1)
    batch_size: int = Field(64, ge=1)
    patience: int = Field(4, ge=0)
    lr: float = Field(1e-3, gt=0)
    num_scales: int = Field(2, ge=1)
    hidden_channels: int = Field(32, ge=1)
    num_blocks: int = Field(2, ge=0)
    couplings_per_scale: int = Field(2, ge=1)
    context_channels: int = Field(32, ge=1)
    temperature: float = Field(1.0, ge=0)  # of the latent draws
    mean_samples: int = Field(16, ge=1)  # draws averaged into the estimate
    # a conditional-flow file trained elsewhere (benchmarks/train_model_file.py --model
    # colorize-conditional), used instead of training the arm's flow; its architecture must
    # match the keys above
    weights: str | None = None

    @field_validator("weights")
    @classmethod
    def _weights_file_exists(cls, v: str | None) -> str | None:
        return existing_file(v, "task.conditional.weights")


class ColorizeTaskSpec(Section):
    """Colorization: gray test images, a posterior per arm, measured against the true colours."""

    name: Literal["colorize"] = "colorize"
    arms: list[ColorizeArm] = Field(default_factory=lambda: list(COLORIZE_ARMS), min_length=1)
    test_images: int = Field(64, ge=1)  # gray test images colorized (a seeded draw)
    starts: int = Field(4, ge=1)  # MAP restarts per image
    map_steps: int = Field(150, ge=0)
    map_lr: float = Field(0.03, gt=0)
    samples: int = Field(4, ge=1)  # posterior samples per image (>= 2 for diversity)
    langevin_steps: int = Field(200, ge=0)
    adapt_steps: int = Field(100, ge=0)  # of langevin_steps, tuning each chain's step size
    step_size: float = Field(1e-4, gt=0)
    penalty: float = Field(1e4, ge=0)  # on chroma outside the RGB cube
    batch_size: int = Field(64, ge=1)
    chain_start: Literal["map", "dispersed"] = "map"  # chains at the MAP, or each its own climb
    estimate: Literal["map", "posterior-mean"] = "map"  # posterior mean = mean of the samples
    gray_start: bool = False  # the first MAP start is the gray input (zero chroma)
    grid_images: int = Field(8, ge=0)  # rows of the logged image grid
    regressor: RegressorSpec = Field(default_factory=lambda: RegressorSpec())
    conditional: ConditionalSpec = Field(default_factory=lambda: ConditionalSpec())

    def inference_config(self) -> InferenceConfig:
        """The task's inference settings (raises ValueError where they break its rules)."""
        return InferenceConfig(
            starts=self.starts,
            map_steps=self.map_steps,
            map_lr=self.map_lr,
            samples=self.samples,
            langevin_steps=self.langevin_steps,
            adapt_steps=self.adapt_steps,
            step_size=self.step_size,
            penalty=self.penalty,
            batch_size=self.batch_size,
            chain_start=self.chain_start,
            estimate=self.estimate,
            gray_start=self.gray_start,
        )

    @model_validator(mode="after")
    def _valid_inference(self) -> ColorizeTaskSpec:
        """The rules live in ``InferenceConfig``; checked here so a bad spec fails at load."""
        self.inference_config()
        return self


StudentName = Literal["svc", "kernel-ridge", "nystroem"]


def _default_students() -> list[StudentName]:
    return ["svc", "kernel-ridge"]


class TransferTaskSpec(Section):
    """Transfer: a CNN teacher labels generated images, kernel-machine students learn from them."""

    name: Literal["transfer"] = "transfer"
    k_real: int = Field(20, ge=1)  # labelled real images per class the students get
    ns: list[int] = Field(default_factory=lambda: [0, 250, 500, 1000, 2000], min_length=1)
    students: list[StudentName] = Field(default_factory=lambda: _default_students(), min_length=1)
    focus: bool = True  # also run the arm focused on the most confused class pairs
    focus_pairs: int = Field(3, ge=1)
    focus_share: float = Field(0.5, gt=0, le=1)
    candidates: float = Field(3.0, ge=1)  # generated candidates per image at the largest n
    probe: int = Field(1000, ge=1)  # generated images to find the confused pairs
    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2], min_length=1)
    teacher: ClassifierSpec = Field(default_factory=lambda: ClassifierSpec())

    @field_validator("ns")
    @classmethod
    def _ns_include_zero(cls, v: list[int]) -> list[int]:
        if 0 not in v or min(v) < 0:
            raise ValueError(f"ns must be >= 0 and include 0 (the real-only student), got {v}")
        return sorted(set(v))


class GateSpec(Section):
    """The release gate; a null limit disables its check."""

    max_memorization_rate: float | None = Field(0.01, ge=0, le=1)
    max_membership_auc: float | None = Field(0.6, ge=0, le=1)
    min_utility_ratio: float | None = Field(None, ge=0)
    max_dp_epsilon: float | None = Field(None, gt=0)  # needs train.privacy (DP-SGD)


class ShareTaskSpec(Section):
    """Sharing: sample a synthetic data set, audit it, write the bundle if the gate passes."""

    name: Literal["share"] = "share"
    n_synthetic: int | None = Field(None, ge=10)  # None: as many as training images
    quantile: float = Field(0.01, gt=0, lt=1)  # of holdout-to-train distances ("memorized")
    k_nn: int = Field(5, ge=1)
    max_feature_images: int = Field(2000, ge=20)
    max_membership_images: int = Field(1000, ge=10)
    gate: GateSpec = Field(default_factory=lambda: GateSpec())
    classifier: ClassifierSpec = Field(default_factory=lambda: ClassifierSpec())
    release_dir: str = "releases"  # bundles go to <release_dir>/<spec name>-v<N>/
    image_format: Literal["npz", "png"] = "npz"
    include_model: bool = False  # also log the generative model as an MLflow model
    closest_pairs: int = Field(8, ge=0)  # synthetic / nearest-training pairs in the MLflow grid
    intended_use: str | None = None  # None: the default text
    limits: str | None = None


class OutputSpec(Section):
    """Where results go."""

    experiment: str = "priorworks"
    sample_grid: int = Field(64, ge=0)
    log_model: bool = True
    # Register the logged model under this name in the MLflow model registry; the alias
    # `champion` moves to it when its primary-score AUROC beats the current champion's.
    registered_model: str | None = None

    @model_validator(mode="after")
    def _registry_needs_a_model(self) -> OutputSpec:
        if self.registered_model and not self.log_model:
            raise ValueError("output.registered_model needs output.log_model: true")
        return self


class PipelineSpec(Section):
    """A whole pipeline."""

    name: str
    seed: int = 0
    # Load a trained model from a FINISHED run with the same model/train sections, seed, role and
    # data fingerprint instead of training again (`priorworks run --retrain` sets it false).
    reuse: bool = True
    data: DataSpec = Field(default_factory=lambda: DataSpec())
    model: ModelSpec = Field(default_factory=lambda: ModelSpec())
    train: TrainSpec = Field(default_factory=lambda: TrainSpec())
    task: (
        AnomalyTaskSpec | AugmentTaskSpec | ColorizeTaskSpec | TransferTaskSpec | ShareTaskSpec
    ) = Field(default_factory=lambda: AnomalyTaskSpec(), discriminator="name")
    output: OutputSpec = Field(default_factory=lambda: OutputSpec())

    @field_validator("task", mode="before")
    @classmethod
    def _known_task(cls, v: Any) -> Any:
        if isinstance(v, dict):
            if v.get("name", "anomaly") not in TASKS:
                raise ValueError(f"unknown task '{v['name']}'; valid tasks: {', '.join(TASKS)}")
            return {"name": "anomaly", **v}
        return v

    @model_validator(mode="after")
    def _background_params(self) -> PipelineSpec:
        background = getattr(self.task, "background", None)
        if background is not None and background.params:
            try:
                check_model_params(self.model.name, background.params)
            except ValueError as err:
                raise ValueError(f"task.background.params: {err}") from None
        return self

    @model_validator(mode="after")
    def _weights_keep_the_protocol(self) -> PipelineSpec:
        if self.model.weights is not None and self.task.name in WEIGHTS_REFUSED:
            raise ValueError(
                f"model.weights: task '{self.task.name}' {WEIGHTS_REFUSED[self.task.name]}, so it "
                "cannot take a model trained elsewhere"
            )
        return self

    def config_hash(self) -> str:
        """Stable short hash of the validated spec (defaults included)."""
        text = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def flat_params(self) -> dict[str, str]:
        """The spec flattened to ``section.key`` strings, for MLflow params."""
        return flatten(self.model_dump(mode="json"))


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = json.dumps(value) if isinstance(value, list | dict) else str(value)
    return out

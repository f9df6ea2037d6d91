"""The ``task`` section of an anomaly-detection spec: scores, how the primary one is chosen, the
likelihood-ratio background and the layout density, the baselines beside them."""

from __future__ import annotations

from typing import Any, Literal, get_args

from pydantic import Field, field_validator, model_validator

from pipelines.spec_sections import DataSpec, Section
from tasks.anomaly.scores import make_score

BaselineName = Literal["kde", "gmm", "isolation_forest", "ocsvm", "pca_reconstruction"]
BASELINE_NAMES: tuple[BaselineName, ...] = get_args(BaselineName)
CompressorBaseline = Literal["code_bits", "code_typicality"]
ScoreName = Literal[
    "nll",
    "bpd",
    "complexity",
    "likelihood-ratio",
    "typicality",
    "background-typicality",
    "ensemble",
    "layout",
    "layout-typicality",
]


class BackgroundSpec(Section):
    """The likelihood-ratio background: the same model trained on perturbed normal images
    (Ren et al. 2019) or on another, general-domain data set (Schirrmeister et al. 2020)."""

    mutation_rate: float = Field(0.2, ge=0, le=1)
    copies: int = Field(1, ge=1)
    max_epochs: int | None = Field(None, ge=1)  # None: the main model's train.max_epochs
    # model parameters that differ for the background, over model.params: e.g. Ren et al.'s L2
    # regularization, {weight_decay: 0.0001}
    params: dict[str, Any] = Field(default_factory=dict)
    # general-domain images instead of the normal ones (their train/val splits; converted to the
    # normal images' channels, size and levels)
    data: DataSpec | None = None

    @model_validator(mode="after")
    def _different_from_the_model(self) -> BackgroundSpec:
        if self.data is None and self.mutation_rate == 0:
            raise ValueError(
                "a background trained on unperturbed normal images is the model itself: set "
                "task.background.mutation_rate > 0 or task.background.data"
            )
        return self


class LayoutSpec(Section):
    """The layout density of the ``layout`` scores: a Gaussian over the normal training images'
    layouts, each image averaged down to ``image_size`` and standardized."""

    image_size: tuple[int, int] = (7, 7)

    @field_validator("image_size")
    @classmethod
    def _positive_size(cls, v: tuple[int, int]) -> tuple[int, int]:
        if min(v) < 2:
            raise ValueError(f"task.layout.image_size must be two sizes >= 2, got {list(v)}")
        return v


class AnomalyTaskSpec(Section):
    """Anomaly detection: which classes are normal, which scores, which false-positive rate."""

    name: Literal["anomaly"] = "anomaly"
    normal_classes: list[int] = Field(default_factory=lambda: [0], min_length=1)
    score: ScoreName = "bpd"  # the primary score: the logged model scores with it
    scores: list[ScoreName] = Field(default_factory=list)  # more scores compared in the run
    # "validation": the primary score is the one with the highest AUROC on the validation
    # split's anomalous images against its normal calibration images (the test split is never
    # used to choose), and the registry compares champions by that validation AUROC; "score":
    # the primary is `score`, champions compared by test AUROC; "auto": validation where the
    # validation split holds anomalous images, else score
    select_by: Literal["auto", "score", "validation"] = "auto"
    reference_fraction: float = Field(0.3, gt=0, lt=1)  # of normal val, for fitted scores
    background: BackgroundSpec | None = None
    layout: LayoutSpec | None = None
    compressor: Literal["png", "zlib", "jpeg2000"] = "png"
    target_fpr: float = Field(0.05, gt=0, lt=1)
    baselines: list[BaselineName] = Field(default_factory=lambda: list(BASELINE_NAMES))
    compressor_baselines: list[CompressorBaseline] = Field(default_factory=list)
    bootstrap: int = Field(1000, ge=10)
    batch_size: int = Field(256, ge=1)

    def selection(self, val_has_anomalies: bool) -> Literal["score", "validation"]:
        """How a run on data with (or without) anomalous validation images picks its primary."""
        if self.select_by == "auto":
            return "validation" if val_has_anomalies else "score"
        return self.select_by

    @property
    def all_scores(self) -> list[str]:
        """The primary score first, then the others, each once."""
        return list(dict.fromkeys([self.score, *self.scores]))

    @model_validator(mode="after")
    def _background_and_layout_when_needed(self) -> AnomalyTaskSpec:
        for name in self.all_scores:
            if make_score(name).needs_background and self.background is None:
                raise ValueError(
                    f"score '{name}' needs a background model: set task.background "
                    "(e.g. task.background={mutation_rate: 0.2})"
                )
            if make_score(name).needs_layout and self.layout is None:
                raise ValueError(
                    f"score '{name}' needs a layout density: set task.layout "
                    "(e.g. task.layout={image_size: [7, 7]})"
                )
        return self

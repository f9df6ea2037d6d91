"""The ``task`` section of an anomaly-detection spec: which classes are normal, the scores and
how the primary one is chosen, the likelihood-ratio background, the layout density, the
baselines beside them."""

from __future__ import annotations

from typing import Any, ClassVar, Literal, get_args

from pydantic import Field, field_validator, model_validator

from genmodels.data.spec import DataSpec
from genmodels.settings import Section
from tasks.anomaly.baselines import BaselineName, CompressorBaselineName
from tasks.anomaly.complexity import Compressor
from tasks.anomaly.scores import REQUIREMENT, ScoreName, make_score
from tasks.requirements import TaskRequirement
from tasks.spec import TaskSpec


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


def _all_baselines() -> list[BaselineName]:
    return list(get_args(BaselineName))


SyntheticRule = Literal["pooled", "local", "global", "mean-kind", "worst-kind"]
#: the results column each synthetic rule ranks by
SYNTHETIC_RULE_METRIC = {
    "pooled": "synthetic_auroc",
    "local": "synthetic_local_auroc",
    "global": "synthetic_global_auroc",
    "mean-kind": "synthetic_mean_kind_auroc",
    "worst-kind": "synthetic_worst_kind_auroc",
}


class AnomalySpec(TaskSpec):
    """Anomaly detection: which classes are normal, which scores, which false-positive rate."""

    name: Literal["anomaly"] = "anomaly"
    normal_classes: list[int] = Field(default_factory=lambda: [0], min_length=1)
    score: ScoreName = "bpd"  # the primary score: the logged model scores with it
    scores: list[ScoreName] = Field(default_factory=list)  # more scores compared in the run
    # "validation": the primary score is the one with the highest AUROC on the validation
    # split's anomalous images against its normal calibration images (the test split is never
    # used to choose), and the registry compares champions by that validation AUROC;
    # "synthetic": the same on synthetic anomalies made from the normal calibration images
    # (tasks/anomaly/corruptions.py), for data without labelled anomalies; "fixed": the primary
    # is `score`, chosen in advance, and no label is read (champions compared on synthetic
    # anomalies); "score": the primary is `score`, champions compared by test AUROC; "auto":
    # validation where the validation split holds anomalous images, else `unlabelled`
    select_by: Literal["auto", "score", "validation", "synthetic", "fixed"] = "auto"
    # how "validation" picks: "best", the highest validation AUROC; "confident", keep `score`
    # unless another's validation AUROC gain over it has its paired bootstrap 95% interval above
    # zero (then the highest of those): a small validation split does not swap the score fixed
    # in advance for the luckiest one (tasks/anomaly/selection.py)
    validation_rule: Literal["best", "confident"] = "best"
    # what auto does where no anomaly is labelled: pick on synthetic anomalies, or keep `score`
    # (fixed); score when synthetic_anomalies is false
    unlabelled: Literal["synthetic", "fixed"] = "synthetic"
    # score synthetic anomalies beside the real ones (`synthetic_auroc` of every detector)
    synthetic_anomalies: bool = True
    # how select_by: synthetic ranks scores: the AUROC over all synthetic anomalies (pooled),
    # over the local or the global kinds, or the mean or the worst of the per-kind AUROCs
    synthetic_rule: SyntheticRule = "pooled"
    # anomaly maps of the delivered detector, judged on synthetic local anomalies made from the
    # normal test images (map_pixel_auroc, map_pro), where its model can say where
    maps: bool = True
    reference_fraction: float = Field(0.3, gt=0, lt=1)  # of normal val, for fitted scores
    background: BackgroundSpec | None = None
    layout: LayoutSpec | None = None
    compressor: Compressor = "png"
    target_fpr: float = Field(0.05, gt=0, lt=1)
    baselines: list[BaselineName] = Field(default_factory=lambda: _all_baselines())
    compressor_baselines: list[CompressorBaselineName] = Field(default_factory=list)
    bootstrap: int = Field(1000, ge=10)
    batch_size: int = Field(256, ge=1)

    requirement: ClassVar[TaskRequirement] = REQUIREMENT

    def selection_metric(self, selection: str) -> str:
        """The metric a way of selecting ranks detectors (and judges registered models) by."""
        if selection in ("synthetic", "fixed"):
            return SYNTHETIC_RULE_METRIC[self.synthetic_rule]
        return {"score": "auroc", "validation": "val_auroc"}[selection]

    def selection(
        self, val_has_anomalies: bool
    ) -> Literal["score", "validation", "synthetic", "fixed"]:
        """How a run on data with (or without) anomalous validation images picks its primary."""
        if self.select_by == "auto":
            if val_has_anomalies:
                return "validation"
            return self.unlabelled if self.synthetic_anomalies else "score"
        return self.select_by

    @property
    def all_scores(self) -> list[str]:
        """The primary score first, then the others, each once."""
        return list(dict.fromkeys([self.score, *self.scores]))

    def model_param_sections(self) -> dict[str, dict[str, Any]]:
        """The background's parameters are the spec model's, checked like them."""
        return {"task.background.params": self.background.params} if self.background else {}

    @model_validator(mode="after")
    def _synthetic_when_selected(self) -> AnomalySpec:
        if self.select_by in ("synthetic", "fixed") and not self.synthetic_anomalies:
            raise ValueError(
                f"select_by: {self.select_by} needs synthetic_anomalies: true (the registry "
                "compares its champions on them)"
            )
        return self

    @model_validator(mode="after")
    def _background_and_layout_when_needed(self) -> AnomalySpec:
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

"""The ``task`` section of an augmentation spec: the k-shot protocol, the arms, the classifier."""

from __future__ import annotations

from typing import ClassVar, Literal, get_args

from pydantic import Field, field_validator, model_validator

from genmodels.contract import Capability, GenerativeModel
from genmodels.errors import CapabilityError
from tasks.augment.choice import smallest_inner_class
from tasks.classifier import ClassifierSpec
from tasks.latent_sampling import check_latent
from tasks.requirements import TaskRequirement
from tasks.spec import TaskSpec

ArmName = Literal[
    "real",
    "real+gen",
    "real+classic",
    "real+classic+gen",
    "real+gen-filtered",
    "real+classic+gen-pretrain",
    "real+classic+pseudo-pretrain",
    "real+classic+gen-pretrain-cv",
    "synthetic-only",
]
ARMS: tuple[ArmName, ...] = get_args(ArmName)
#: how the generator is sampled: its own sampler; decoded codes from a mixture fit to its codes;
#: or, per class, decoded points between the codes of two of the draw's labelled images (with
#: the first image's own detail kept: class-detail)
Sampling = Literal["prior", "latent-mixture", "class-interpolation", "class-detail"]
#: the samplings that draw images of a named class from the draw's labelled images
CLASS_SAMPLINGS: tuple[Sampling, ...] = ("class-interpolation", "class-detail")
#: the arms that need no generator (none is fit when only these run)
REAL_ONLY_ARMS: tuple[ArmName, ...] = ("real", "real+classic", "real+classic+pseudo-pretrain")
#: the arm that keeps real+classic+gen-pretrain only where cross-validation inside the k labelled
#: images of the draw says it beats real+classic (and is real+classic otherwise)
CV_ARM: ArmName = "real+classic+gen-pretrain-cv"


def _default_ks() -> list[int | Literal["all"]]:
    return [10, 50]


class AugmentSpec(TaskSpec):
    """Augmentation: k labelled images per class, arms compared over seeds on the test split."""

    name: Literal["augment"] = "augment"
    # labelled real images per class ("all": the whole pool)
    ks: list[int | Literal["all"]] = Field(default_factory=lambda: _default_ks(), min_length=1)
    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2], min_length=1)
    multiplier: float = Field(1.0, gt=0)  # generated images per real training image
    arms: list[ArmName] = Field(default_factory=lambda: list(ARMS), min_length=1)
    # real+gen-filtered keeps samples the real-only classifier gives their class >= this
    filter_threshold: float = Field(0.9, gt=0, le=1)
    flips: bool = False  # horizontal flips in classic augmentation (not for digits)
    # classic-augmented copies of each k-shot image added to the generator's training set (the
    # generator then learns the warps too); 0: it sees the k-shot images only
    generator_copies: int = Field(0, ge=0)
    # generated images per real training image in the pretraining set of
    # real+classic+gen-pretrain (many: a generator's samples cost nothing)
    pretrain_multiplier: float = Field(25.0, gt=0)
    # what the generator sees: `kshot`, the k labelled images of each draw (a conditional model
    # learns their classes); `unlabelled-pool`, every training image without its label, fit once
    # for all draws (an unconditional model; the k-shot classifier labels its samples)
    generator_data: Literal["kshot", "unlabelled-pool"] = "kshot"
    # the unlabelled-pool generator's training length in optimizer steps, whatever the pool's
    # size (epochs = steps / batches per epoch, at least one)
    pool_generator_steps: int = Field(3000, ge=1)
    # how the generator is sampled: `prior`, its own sampler; `latent-mixture` (an unconditional
    # vae), decoded codes from a Gaussian mixture fit to the codes of the images it trained on;
    # `class-interpolation` (an unconditional vae), for class c, the decoded point at t ~ U(0, 1)
    # between the codes of two of the draw's labelled images of class c: labelled by the draw's
    # labels, not by a classifier; `class-detail`, the same move added to the first labelled
    # image, x_a + D(z_t) - D(z_a), so that it keeps its own detail
    sampling: Sampling = "prior"
    latent_components: int = Field(20, ge=1)  # of that mixture
    # real+classic+gen-pretrain-cv: folds of the stratified cross-validation inside the k
    # labelled images that decides, per draw, between real+classic and the pretrain arm
    cv_folds: int = Field(3, ge=2)
    classifier: ClassifierSpec = Field(default_factory=lambda: ClassifierSpec())

    requirement: ClassVar[TaskRequirement] = TaskRequirement(
        "augment", capabilities=frozenset({Capability.SAMPLE})
    )
    weights_refused: ClassVar[str] = "fits its generator on the k labelled images of each draw only"

    @field_validator("ks")
    @classmethod
    def _k_at_least_two(cls, v: list[int | str]) -> list[int | str]:
        bad = [k for k in v if isinstance(k, int) and k < 2]
        if bad:
            raise ValueError(f"every k must be >= 2 (one to fit, one to validate), got {bad}")
        return v

    @model_validator(mode="after")
    def _folds_leave_enough(self) -> AugmentSpec:
        if CV_ARM not in self.arms:
            return self
        short = [
            k for k in self.ks if isinstance(k, int) and smallest_inner_class(k, self.cv_folds) < 2
        ]
        if short:
            raise ValueError(
                f"arm {CV_ARM} holds out one of {self.cv_folds} folds of the k images per class "
                f"and needs 2 per class left to train on; k={short} is too small (a larger k, "
                "or more task.cv_folds)"
            )
        return self

    @property
    def needs_generator(self) -> bool:
        return any(a not in REAL_ONLY_ARMS for a in self.arms)

    def check_model(self, model_cls: type[GenerativeModel]) -> None:
        super().check_model(model_cls)
        unlabelled = not model_cls.supports(Capability.CONDITIONAL)
        if self.needs_generator and self.generator_data == "unlabelled-pool" and not unlabelled:
            raise CapabilityError(
                f"model '{model_cls.name}' is class-conditional, but task.generator_data: "
                "unlabelled-pool fits the generator without labels: choose an unconditional "
                "model (e.g. vae, realnvp, pixelcnn, dcgan)"
            )
        if self.needs_generator and self.sampling != "prior":
            check_latent(model_cls)
        if self.needs_generator and unlabelled and "real" not in self.arms:
            raise CapabilityError(
                f"model '{model_cls.name}' is unconditional: its samples are labelled by the "
                "real-only classifier, so the arms must include 'real'"
            )

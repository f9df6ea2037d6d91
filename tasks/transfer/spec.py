"""The ``task`` section of a transfer spec: the students, the numbers of generated images, the
focused arm, the teacher."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, field_validator

from genmodels.contract import Capability, GenerativeModel
from tasks.classifier import ClassifierSpec
from tasks.latent_sampling import Sampling, check_latent
from tasks.requirements import TaskRequirement
from tasks.spec import TaskSpec
from tasks.transfer.sources import SourceName
from tasks.transfer.students import StudentName


def _default_students() -> list[StudentName]:
    return ["svc", "kernel-ridge"]


def _default_sources() -> list[SourceName]:
    return ["generator", "warps", "mixup"]


class TransferSpec(TaskSpec):
    """Transfer: a CNN teacher labels generated images, kernel-machine students learn from them."""

    name: Literal["transfer"] = "transfer"
    k_real: int = Field(20, ge=1)  # labelled real images per class the students get
    # generated images added to the student's real ones (0: the real-only student)
    ns: list[int] = Field(default_factory=lambda: [0, 250, 500, 1000, 2000], min_length=1)
    students: list[StudentName] = Field(default_factory=lambda: _default_students(), min_length=1)
    # where the added images come from, each labelled by the teacher: the generator's samples,
    # the baselines it must beat (warps and mixup of the k real images), the real images moved
    # towards the generator's draws (moves: a vae) and, on request, the ceiling (pool: the
    # training images themselves)
    sources: list[SourceName] = Field(default_factory=lambda: _default_sources(), min_length=1)
    # how the generator is sampled: its own sampler (prior), or for an unconditional latent model
    # (vae) decoded codes drawn from a Gaussian mixture fit to its training images' codes
    sampling: Sampling = "prior"
    latent_components: int = Field(20, ge=1)  # of that mixture
    # take the added images of the random arm evenly over the teacher's classes (as the k real
    # images are), not in the proportions the source happens to have
    balance: bool = False
    fidelity_images: int = Field(1000, ge=10)  # per set, for k-NN precision and recall
    focus: bool = True  # also run the arm focused on the most confused class pairs
    # also run the arm taking focus_share of the images where the teacher is least sure
    uncertain: bool = True
    focus_pairs: int = Field(3, ge=1)  # confused class pairs to focus on
    focus_share: float = Field(0.5, gt=0, le=1)  # of the n images, chosen by focus or uncertainty
    candidates: float = Field(3.0, ge=1)  # generated candidates per image at the largest n
    probe: int = Field(1000, ge=1)  # generated, teacher-labelled images to find the pairs
    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2], min_length=1)
    teacher: ClassifierSpec = Field(default_factory=lambda: ClassifierSpec())

    requirement: ClassVar[TaskRequirement] = TaskRequirement(
        "transfer", capabilities=frozenset({Capability.SAMPLE})
    )

    def check_model(self, model_cls: type[GenerativeModel]) -> None:
        super().check_model(model_cls)
        if self.sampling == "latent-mixture" or "moves" in self.sources:
            check_latent(model_cls)

    @field_validator("ns")
    @classmethod
    def _ns_include_zero(cls, v: list[int]) -> list[int]:
        if 0 not in v or min(v) < 0:
            raise ValueError(f"ns must be >= 0 and include 0 (the real-only student), got {v}")
        return sorted(set(v))

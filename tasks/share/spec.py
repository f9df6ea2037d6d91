"""The ``task`` section of a share spec: the synthetic set, the audit, the gate, the bundle."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from genmodels.contract import Capability
from tasks.classifier import ClassifierSpec
from tasks.requirements import TaskRequirement
from tasks.share.gate import ReleaseGate
from tasks.spec import TaskSpec


class ShareSpec(TaskSpec):
    """Sharing: sample a synthetic data set, audit it, write the bundle if the gate passes."""

    name: Literal["share"] = "share"
    n_synthetic: int | None = Field(None, ge=10)  # None: as many as training images
    # "memorized": closer to a training record than this quantile of holdout-to-train distances
    quantile: float = Field(0.01, gt=0, lt=1)
    k_nn: int = Field(5, ge=1)  # neighbours for precision / recall / density / coverage
    max_feature_images: int = Field(2000, ge=20)  # per set, for the k-NN fidelity metrics
    max_membership_images: int = Field(1000, ge=10)  # per side of the membership attack
    gate: ReleaseGate = Field(default_factory=lambda: ReleaseGate())
    classifier: ClassifierSpec = Field(default_factory=lambda: ClassifierSpec())
    release_dir: str = "releases"  # bundles go to <release_dir>/<spec name>-v<N>/
    image_format: Literal["npz", "png"] = "npz"
    include_model: bool = False  # also log the generative model file with the run
    closest_pairs: int = Field(8, ge=0)  # synthetic / nearest-training pairs in the grid
    intended_use: str | None = None  # None: the default text
    limits: str | None = None

    requirement: ClassVar[TaskRequirement] = TaskRequirement(
        "share", capabilities=frozenset({Capability.SAMPLE})
    )
    weights_refused: ClassVar[str] = (
        "measures privacy and utility of a model trained on the private split itself"
    )

"""Anomaly scores from a generative model's likelihood. Higher score = more anomalous.

Every score is computed from per-image :class:`Evidence` gathered once: the model's code length
``-log2 p(x)`` (a bound for BOUND models), a lossless compressor's code length ``L(x)``, and,
when a background model was trained, its code length. All are in bits per image.

* ``nll`` (nats) and ``bpd`` (bits per dimension): the raw likelihood.
* ``complexity`` (Serrà et al. 2020): ``-log2 p(x) - L(x)``. Simple images get high likelihood
  from any model *and* short codes from the compressor; the difference keeps what is specific
  to the model.
* ``likelihood-ratio`` (Ren et al. 2019): ``-log2 p(x) + log2 p_bg(x)``, the background model
  trained on perturbed normal images so it captures only low-level statistics.
* ``typicality`` (Nalisnick et al. 2019): ``|-log2 p(x) - mu|``, two-sided, ``mu`` the mean code
  length on normal reference images: too likely is as suspicious as too unlikely.
* ``background-typicality``: ``|-log2 p_bg(x) - mu_bg|``, the typicality of the background
  model's code length. With a background trained on a general-domain data set this is the
  model-free code-length typicality with a learned generic compressor in place of PNG.
* ``ensemble``: the mean of the ``complexity`` and ``typicality`` scores (and ``likelihood-ratio``
  when a background exists), each standardized on the reference images.
* ``layout``: the image's layout code length (:mod:`tasks.anomaly.layout`): a Gaussian over the
  coarse, exposure-normalized layouts of the normal training images; high = unusual layout.
* ``layout-typicality``: the mean of the ``layout`` score and the code-length typicality (of the
  background's code length when a background exists, else of the model's), each standardized on
  the reference images: what the image looks like at a coarse scale, and how complex it is.

Scores with state (``typicality``, ``ensemble``) are fit on normal *reference* images that are
not the conformal calibration images, so the calibration stays exchangeable with normal test data.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from torch import Tensor

from genmodels.contract import GenerativeModel, Likelihood
from genmodels.errors import UnknownNameError
from genmodels.nets import to_channels_last
from genmodels.threads import share
from tasks.anomaly.complexity import Compressor, code_length_bits
from tasks.anomaly.layout import LayoutDensity
from tasks.requirements import TaskRequirement
from tasks.spec import same_names

REQUIREMENT = TaskRequirement(
    task="anomaly", likelihoods=frozenset({Likelihood.EXACT, Likelihood.BOUND})
)


@dataclass(frozen=True)
class Evidence:
    """Per-image code lengths in bits, ``(N,)`` float64 each."""

    nll_bits: np.ndarray
    code_bits: np.ndarray | None
    background_nll_bits: np.ndarray | None
    num_dims: int
    layout_bits: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.nll_bits)

    def subset(self, index: np.ndarray) -> Evidence:
        def pick(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else a[index]

        return Evidence(
            self.nll_bits[index], pick(self.code_bits), pick(self.background_nll_bits),
            self.num_dims, pick(self.layout_bits),
        )  # fmt: skip


def model_nll_bits(model: GenerativeModel, images: Tensor, batch_size: int = 256) -> np.ndarray:
    """``-log2 p(x)`` per image (an upper bound for BOUND models), in batches; ``(N,)`` float64."""
    REQUIREMENT.check(type(model))
    was_training = model.training
    model.eval()
    to_channels_last(model)  # faster convolutions; the same values
    out = []
    try:
        with torch.inference_mode():
            for start in range(0, images.shape[0], batch_size):
                share()  # this job's part of the cores, with other jobs running
                batch = images[start : start + batch_size].to(
                    model.device, torch.get_default_dtype(), memory_format=torch.channels_last
                )
                out.append((-model.log_likelihood(batch)).double().cpu() / math.log(2))
    finally:
        model.train(was_training)
    return torch.cat(out).numpy() if out else np.empty(0)


def gather_evidence(
    model: GenerativeModel,
    images: Tensor,
    background: GenerativeModel | None = None,
    batch_size: int = 256,
    compressor: Compressor | None = "png",
    layout: LayoutDensity | None = None,
) -> Evidence:
    """Everything the scores need about ``images``, computed once (``compressor=None`` skips the
    code lengths, for scores that do not use them; ``layout`` adds the layout code lengths)."""
    return Evidence(
        nll_bits=model_nll_bits(model, images, batch_size),
        code_bits=None
        if compressor is None
        else code_length_bits(images, model.levels, compressor),
        background_nll_bits=(
            None if background is None else model_nll_bits(background, images, batch_size)
        ),
        num_dims=model.num_dims,
        layout_bits=None if layout is None else layout.bits(images),
    )


class Score(ABC):
    """A scoring rule over :class:`Evidence`; ``fit`` learns what it needs from normal images."""

    name: ClassVar[str]
    needs_background: ClassVar[bool] = False
    needs_reference: ClassVar[bool] = False
    needs_code: ClassVar[bool] = False
    needs_layout: ClassVar[bool] = False

    @property
    def uses_background(self) -> bool:
        """Whether this (fitted) score reads the background model's code lengths."""
        return self.needs_background

    def fit(self, reference: Evidence) -> Score:
        return self

    @abstractmethod
    def compute(self, ev: Evidence) -> np.ndarray: ...

    def __call__(self, ev: Evidence) -> np.ndarray:
        if self.needs_background and ev.background_nll_bits is None:
            raise ValueError(
                f"score '{self.name}' needs a background model; enable task.background"
            )
        if self.needs_code and ev.code_bits is None:
            raise ValueError(f"score '{self.name}' needs the compressor's code lengths")
        if self.needs_layout and ev.layout_bits is None:
            raise ValueError(f"score '{self.name}' needs a layout density; set task.layout")
        return self.compute(ev)

    def state(self) -> dict[str, Any]:
        """The fitted state, JSON-serializable (travels inside an exported model)."""
        return {}

    def load_state(self, state: dict[str, Any]) -> Score:
        return self


class NLL(Score):
    name = "nll"

    def compute(self, ev: Evidence) -> np.ndarray:
        return ev.nll_bits * math.log(2)


class BitsPerDim(Score):
    name = "bpd"

    def compute(self, ev: Evidence) -> np.ndarray:
        return ev.nll_bits / ev.num_dims


class Complexity(Score):
    name = "complexity"
    needs_code = True

    def compute(self, ev: Evidence) -> np.ndarray:
        assert ev.code_bits is not None
        return ev.nll_bits - ev.code_bits


class LikelihoodRatio(Score):
    name = "likelihood-ratio"
    needs_background = True

    def compute(self, ev: Evidence) -> np.ndarray:
        assert ev.background_nll_bits is not None
        return ev.nll_bits - ev.background_nll_bits


class Typicality(Score):
    name = "typicality"
    needs_reference = True

    def __init__(self) -> None:
        self.center: float | None = None

    def _bits(self, ev: Evidence) -> np.ndarray:
        """The code length whose typical value is measured."""
        return ev.nll_bits

    def fit(self, reference: Evidence) -> Typicality:
        if len(reference) == 0:
            raise ValueError(f"{self.name} needs at least one normal reference image")
        self.center = float(np.mean(self._bits(reference)))
        return self

    def compute(self, ev: Evidence) -> np.ndarray:
        if self.center is None:
            raise ValueError(f"score '{self.name}' is not fit; call fit(reference) first")
        return np.abs(self._bits(ev) - self.center)

    def state(self) -> dict[str, Any]:
        return {"center": self.center}

    def load_state(self, state: dict[str, Any]) -> Typicality:
        self.center = state["center"]
        return self


class BackgroundTypicality(Typicality):
    """Typicality of the background model's code length instead of the model's."""

    name = "background-typicality"
    needs_background = True

    def _bits(self, ev: Evidence) -> np.ndarray:
        if ev.background_nll_bits is None:
            raise ValueError(f"score '{self.name}' needs images scored by a background model")
        return ev.background_nll_bits


class _StandardizedMean(Score):
    """Mean of component scores, each standardized by its mean and standard deviation on the
    reference images; subclasses choose the components (``parts``) in ``fit``."""

    needs_reference = True

    def __init__(self) -> None:
        self.stats: dict[str, tuple[float, float]] = {}
        self.parts: dict[str, Score] = {}

    def _standardize_on(self, reference: Evidence) -> None:
        self.stats = {}
        for name, part in self.parts.items():
            values = part.fit(reference)(reference)
            self.stats[name] = (float(values.mean()), float(values.std()) or 1.0)

    def _load_stats(self, state: dict[str, Any]) -> None:
        self.stats = {k: (float(v[0]), float(v[1])) for k, v in state["stats"].items()}

    def compute(self, ev: Evidence) -> np.ndarray:
        if not self.parts:
            raise ValueError(f"score '{self.name}' is not fit; call fit(reference) first")
        z = [(part(ev) - self.stats[n][0]) / self.stats[n][1] for n, part in self.parts.items()]
        return np.mean(z, axis=0)


class Ensemble(_StandardizedMean):
    """Complexity and typicality (and the likelihood ratio when a background exists)."""

    name = "ensemble"
    needs_code = True

    @property
    def uses_background(self) -> bool:
        return "likelihood-ratio" in self.parts

    def fit(self, reference: Evidence) -> Ensemble:
        self.parts = {"complexity": Complexity(), "typicality": Typicality()}
        if reference.background_nll_bits is not None:
            self.parts["likelihood-ratio"] = LikelihoodRatio()
        self._standardize_on(reference)
        return self

    def state(self) -> dict[str, Any]:
        typicality = self.parts["typicality"].state() if self.parts else {}
        return {"stats": self.stats, "typicality": typicality}

    def load_state(self, state: dict[str, Any]) -> Ensemble:
        self._load_stats(state)
        self.parts = {"complexity": Complexity(), "typicality": Typicality()}
        self.parts["typicality"].load_state(state["typicality"])
        if "likelihood-ratio" in self.stats:
            self.parts["likelihood-ratio"] = LikelihoodRatio()
        return self


class Layout(Score):
    """The layout code length alone (one-sided: an unusual layout is anomalous)."""

    name = "layout"
    needs_layout = True

    def compute(self, ev: Evidence) -> np.ndarray:
        assert ev.layout_bits is not None
        return ev.layout_bits


class LayoutTypicality(_StandardizedMean):
    """The layout score and code-length typicality (see the module)."""

    name = "layout-typicality"
    needs_layout = True

    @property
    def uses_background(self) -> bool:
        return "background-typicality" in self.parts

    @staticmethod
    def _parts(background: bool) -> dict[str, Score]:
        code: Score = BackgroundTypicality() if background else Typicality()
        return {"layout": Layout(), code.name: code}

    def fit(self, reference: Evidence) -> LayoutTypicality:
        if len(reference) < 2:
            raise ValueError(f"{self.name} needs at least two normal reference images")
        self.parts = self._parts(reference.background_nll_bits is not None)
        self._standardize_on(reference)
        return self

    def state(self) -> dict[str, Any]:
        return {"stats": self.stats, "parts": {n: p.state() for n, p in self.parts.items()}}

    def load_state(self, state: dict[str, Any]) -> LayoutTypicality:
        self._load_stats(state)
        self.parts = self._parts("background-typicality" in self.stats)
        for name, part in self.parts.items():
            part.load_state(state["parts"][name])
        return self


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
SCORES: dict[str, type[Score]] = {
    cls.name: cls
    for cls in (
        NLL,
        BitsPerDim,
        Complexity,
        LikelihoodRatio,
        Typicality,
        BackgroundTypicality,
        Ensemble,
        Layout,
        LayoutTypicality,
    )
}


SCORE_NAMES = same_names(ScoreName, SCORES, "anomaly scores")


def make_score(name: str) -> Score:
    """A fresh score by name. Raises :class:`UnknownNameError` naming the valid ones."""
    if name not in SCORES:
        raise UnknownNameError("score", name, SCORES)
    return SCORES[name]()


def score_images(
    model: GenerativeModel,
    images: Tensor,
    score: str = "bpd",
    batch_size: int = 256,
    background: GenerativeModel | None = None,
    reference: Evidence | None = None,
    layout: LayoutDensity | None = None,
) -> np.ndarray:
    """Score ``images (N, C, H, W) in [0, 1]``; returns ``(N,)`` float64.

    Raises:
        UnknownNameError: ``score`` is not one of :data:`SCORES`.
        CapabilityError: the model has no likelihood.
        ValueError: the score needs a background model, reference images or a layout density
            it was not given.
    """
    rule = make_score(score)
    REQUIREMENT.check(type(model))
    if rule.needs_reference:
        if reference is None:
            raise ValueError(f"score '{score}' needs normal reference images to fit on")
        rule.fit(reference)
    if rule.needs_background and background is None:
        raise ValueError(f"score '{score}' needs a background model; enable task.background")
    compressor: Compressor | None = "png" if rule.needs_code else None
    if rule.needs_layout and layout is None:
        raise ValueError(f"score '{score}' needs a layout density (tasks.anomaly.LayoutDensity)")
    return rule(gather_evidence(model, images, background, batch_size, compressor, layout))

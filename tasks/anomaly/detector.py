"""A trained anomaly detector as one object: the model, the score and its fitted state, the
conformal threshold, and what the score needs beside the model (a background model, a layout
density, a compressor). It scores images the way the run that trained it did, and saves to (and
loads from) three files: the model, the background (when the score uses it) and a JSON of the
rest, which is what a logged MLflow model carries."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from torch import Tensor

from genmodels.contract import GenerativeModel
from genmodels.persistence import load_model, save_model
from tasks.anomaly.complexity import Compressor
from tasks.anomaly.layout import LayoutDensity
from tasks.anomaly.map_setting import MapSetting
from tasks.anomaly.patch_neighbours import LEGACY_PATCH, PatchNeighbours
from tasks.anomaly.scores import Score, gather_evidence, make_score
from tasks.anomaly.threshold import ConformalThreshold

#: the files of a saved detector, by role
MODEL, BACKGROUND, CALIBRATION = "model", "background", "calibration"
MAP_REFERENCES = "map_references"  # the normal images of a patch-nn map


@dataclass(frozen=True)
class Detector:
    """Scores ``(N, C, H, W)`` images in ``[0, 1]``; higher = more anomalous.

    Attributes:
        model: the generative model trained on normal images.
        score: the scoring rule, fitted on normal reference images.
        threshold: the conformal threshold, with its calibration scores.
        background: the likelihood-ratio background, kept only when the score uses it.
        layout: the layout density, kept only when the score needs it.
        compressor: the lossless compressor of code-length scores.
        batch_size: images per forward pass.
        map_setting: the anomaly map it delivers (kind, smoothing, standardization); ``None``:
            its model's own map, raw.
        patches: the normal reference images of a ``patch-nn`` or ``features-nn`` map.
    """

    model: GenerativeModel
    score: Score
    threshold: ConformalThreshold
    background: GenerativeModel | None = None
    layout: LayoutDensity | None = None
    compressor: Compressor = "png"
    batch_size: int = 256
    map_setting: MapSetting | None = None
    patches: PatchNeighbours | None = None

    def __post_init__(self) -> None:
        if self.score.uses_background and self.background is None:
            raise ValueError(f"score '{self.score.name}' needs its background model")
        if self.score.needs_layout and self.layout is None:
            raise ValueError(f"score '{self.score.name}' needs its layout density")
        setting = self.map_setting
        if setting is not None and setting.uses_references and self.patches is None:
            raise ValueError(f"a {setting.kind} map needs its reference images")

    @classmethod
    def keeping_what_it_uses(
        cls,
        model: GenerativeModel,
        score: Score,
        threshold: ConformalThreshold,
        background: GenerativeModel | None,
        layout: LayoutDensity | None,
        compressor: Compressor,
        batch_size: int,
    ) -> Detector:
        """A detector holding the background and layout only where its score uses them."""
        return cls(
            model,
            score,
            threshold,
            background if score.uses_background else None,
            layout if score.needs_layout else None,
            compressor,
            batch_size,
        )

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return self.model.image_shape

    @property
    def levels(self) -> int:
        return self.model.levels

    def scores(self, images: Tensor) -> np.ndarray:
        """``(N,)`` float64 anomaly scores."""
        compressor = self.compressor if self.score.needs_code else None
        evidence = gather_evidence(
            self.model, images, self.background, self.batch_size, compressor, self.layout
        )
        return self.score(evidence)

    def predict(self, images: Tensor) -> pd.DataFrame:
        """One row per image: ``score``, ``p_value`` (conformal) and ``flagged``."""
        return threshold_frame(self.scores(images), self.threshold)

    def recalibrated(
        self, target_fpr: float | None = None, threshold: float | None = None
    ) -> Detector:
        """The same detector with its threshold moved, from the normal calibration scores it
        carries (no retraining): to a new target false-positive rate, or to a value by hand."""
        return replace(self, threshold=moved_threshold(self.threshold, target_fpr, threshold))

    def state(self) -> dict[str, Any]:
        """Everything but the networks, as JSON-ready values."""
        return {
            "score": self.score.name,
            "score_state": self.score.state(),
            "compressor": self.compressor,
            "target_fpr": self.threshold.target_fpr,
            "threshold": self.threshold.threshold,
            "calibration": self.threshold.calibration.tolist(),
            "batch_size": self.batch_size,
            "layout": self.layout.state() if self.layout is not None else None,
            "maps": None if self.map_setting is None else self.map_setting.state(),
            "map_patch": None if self.patches is None else self.patches.side,
        }

    @classmethod
    def from_state(
        cls,
        state: Mapping[str, Any],
        model: GenerativeModel,
        background: GenerativeModel | None = None,
        patches: PatchNeighbours | None = None,
    ) -> Detector:
        """The detector of :meth:`state`, around its networks (and map references)."""
        score, threshold, layout, compressor, batch_size = rules_from_state(state)
        maps = state.get("maps")
        return cls(
            model,
            score,
            threshold,
            background if score.uses_background else None,
            layout,
            compressor,
            batch_size,
            None if maps is None else MapSetting.from_state(maps),
            patches,
        )

    def save(self, folder: str | Path) -> dict[str, str]:
        """Write the detector's files into ``folder``; their paths by role."""
        folder = Path(folder)
        files = {MODEL: str(save_model(self.model, folder / "model.pt"))}
        if self.background is not None:
            files[BACKGROUND] = str(save_model(self.background, folder / "background.pt"))
        calibration = folder / "calibration.json"
        calibration.write_text(json.dumps(self.state()))
        files[CALIBRATION] = str(calibration)
        if self.patches is not None:
            files[MAP_REFERENCES] = str(self.patches.save(folder / "map_references.npy"))
        return files

    @classmethod
    def load(cls, files: Mapping[str, str | Path]) -> Detector:
        """The detector whose files :meth:`save` wrote."""
        background = files.get(BACKGROUND)
        references = files.get(MAP_REFERENCES)
        state = json.loads(Path(files[CALIBRATION]).read_text())
        patch = state.get("map_patch") or LEGACY_PATCH  # files from before it was stored
        return cls.from_state(
            state,
            load_model(files[MODEL]),
            load_model(background) if background else None,
            PatchNeighbours.load(references, patch) if references else None,
        )


def rules_from_state(
    state: Mapping[str, Any],
) -> tuple[Score, ConformalThreshold, LayoutDensity | None, Compressor, int]:
    """What :meth:`Detector.state` wrote beside the networks: score, threshold, layout density,
    compressor and batch size."""
    layout = state.get("layout")
    return (
        make_score(state["score"]).load_state(state.get("score_state", {})),
        ConformalThreshold.fit(np.asarray(state["calibration"]), state["target_fpr"]),
        None if layout is None else LayoutDensity.from_state(layout),
        state.get("compressor", "png"),
        int(state.get("batch_size", 256)),
    )


def threshold_frame(scores: np.ndarray, threshold: ConformalThreshold) -> pd.DataFrame:
    """One row per score: ``score``, ``p_value`` (conformal) and ``flagged``."""
    return pd.DataFrame(
        {"score": scores, "p_value": threshold.p_values(scores), "flagged": threshold.flag(scores)}
    )


def moved_threshold(
    current: ConformalThreshold, target_fpr: float | None, threshold: float | None
) -> ConformalThreshold:
    """``current``'s calibration scores with a new target false-positive rate, or a value set
    by hand (exactly one of the two)."""
    if (target_fpr is None) == (threshold is None):
        raise ValueError("give exactly one of target_fpr and threshold")
    if target_fpr is not None:
        return ConformalThreshold.fit(current.calibration, target_fpr)
    assert threshold is not None
    return ConformalThreshold.at(current.calibration, threshold)

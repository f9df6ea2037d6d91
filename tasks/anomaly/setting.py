"""One run's detectors, evaluated alike: every model score and every baseline is calibrated on
the same normal images, measured on the same test split, and judged on the same selection sets
(the validation split's anomalies, synthetic anomalies)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from tasks.anomaly.baselines import fit_baseline, fit_compressor_baseline
from tasks.anomaly.complexity import code_length_bits
from tasks.anomaly.corruptions import Corrupted
from tasks.anomaly.evaluation import DetectionResult, evaluate_detector
from tasks.anomaly.orientation import choose_form, orient
from tasks.anomaly.protocol import OneClassSplit
from tasks.anomaly.spec import AnomalySpec


@dataclass(frozen=True)
class Scores:
    """One detector's scores of each part of the split."""

    calibration: np.ndarray
    test: np.ndarray
    val_anomalous: np.ndarray | None
    synthetic: np.ndarray | None


@dataclass(frozen=True)
class Setting:
    """What every detector of one run shares: the split, the calibration images, the rules."""

    data: OneClassSplit
    calibration: np.ndarray  # indices into the normal validation images
    spec: AnomalySpec
    seed: int
    synthetic: Corrupted | None  # anomalies made from the calibration images
    selection: str  # how detectors are chosen: score, validation, synthetic or fixed
    center_images: torch.Tensor  # normal images that set a two-sided baseline's centre

    def evaluate_baseline(
        self, method: str, scores: Callable[[torch.Tensor], np.ndarray]
    ) -> tuple[DetectionResult, str]:
        """Evaluate a baseline in the form (as-is, flipped, two-sided) that the run's selection
        set prefers; as-is when the run selects nothing. Returns the result and the form."""
        raw = self.scores_of(scores)
        center = float(np.mean(scores(self.center_images)))
        chosen = {
            "validation": raw.val_anomalous,
            "synthetic": raw.synthetic,
            "fixed": raw.synthetic,
        }.get(self.selection)
        form = "as-is" if chosen is None else choose_form(raw.calibration, chosen, center)

        def turn(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else orient(form, a, center)

        oriented = Scores(
            orient(form, raw.calibration, center),
            orient(form, raw.test, center),
            turn(raw.val_anomalous),
            turn(raw.synthetic),
        )
        return self.evaluate(method, precomputed=oriented), form

    def scores_of(self, scores: Callable[[torch.Tensor], np.ndarray]) -> Scores:
        """A detector's scores of every part of the split, from a function of images."""
        data = self.data
        cal_scores = scores(data.val.images[self.calibration])
        test_scores = scores(data.test.images)
        anomalous = None if data.val_anomalous is None else scores(data.val_anomalous.images)
        synthetic = None if self.synthetic is None else scores(self.synthetic.images)
        return Scores(cal_scores, test_scores, anomalous, synthetic)

    def evaluate(
        self,
        method: str,
        scores: Callable[[torch.Tensor], np.ndarray] | None = None,
        precomputed: Scores | None = None,
    ) -> DetectionResult:
        """Calibrate, decide and measure one detector: from a function of images, or from its
        scores of each part."""
        data = self.data
        if precomputed is None:
            assert scores is not None
            precomputed = self.scores_of(scores)
        labels = data.test.labels.numpy() if data.test.labels is not None else None
        return evaluate_detector(
            method,
            precomputed.calibration,
            precomputed.test,
            data.test_is_anomaly,
            self.spec.target_fpr,
            data.test.ids,
            labels,
            n_boot=self.spec.bootstrap,
            seed=self.seed,
            val_anomalous_scores=precomputed.val_anomalous,
            synthetic_scores=precomputed.synthetic,
            synthetic_kinds=() if self.synthetic is None else self.synthetic.kinds,
        )


def baseline_result(name: str, setting: Setting) -> tuple[DetectionResult, str]:
    flat_train = setting.data.train.images.flatten(1).numpy()
    scorer = fit_baseline(name, flat_train, seed=setting.seed)
    return setting.evaluate_baseline(name, lambda images: scorer(images.flatten(1).numpy()))


def compressor_baseline_result(name: str, setting: Setting) -> tuple[DetectionResult, str]:
    """A detector with no model at all: the compressor's code length of each image (reported as
    ``<compressor>:<name>``, e.g. ``png:code_typicality``)."""
    compressor, levels = setting.spec.compressor, setting.data.train.levels

    def bits(images: torch.Tensor) -> np.ndarray:
        return code_length_bits(images, levels, compressor)

    scorer = fit_compressor_baseline(name, bits(setting.data.train.images))
    return setting.evaluate_baseline(f"{compressor}:{name}", lambda images: scorer(bits(images)))

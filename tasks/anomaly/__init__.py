"""Anomaly detection by density: fit on normal data only, flag what the model finds unlikely.

Read in order: ``spec.py`` (the settings), ``experiment.py`` (the protocol and the entry point),
``protocol.py`` (the one-class split), ``scores.py`` (the scores over a model's evidence),
``threshold.py``, ``evaluation.py`` and ``setting.py`` (calibration, metrics, every detector
evaluated alike), ``corruptions.py`` (synthetic anomalies, to choose without labels),
``baselines.py`` and ``orientation.py`` (what every score must beat, at its strongest),
``detector.py`` (what a run delivers), ``maps.py`` and ``localization.py`` (where).
"""

from tasks.anomaly.background import background_data, perturb
from tasks.anomaly.baselines import (
    BASELINES,
    COMPRESSOR_BASELINES,
    fit_baseline,
    fit_compressor_baseline,
)
from tasks.anomaly.comparison import gains_over_best_baseline
from tasks.anomaly.complexity import code_length_bits
from tasks.anomaly.detector import Detector
from tasks.anomaly.evaluation import DetectionResult, evaluate_detector
from tasks.anomaly.experiment import run
from tasks.anomaly.layout import LayoutDensity, layout_view
from tasks.anomaly.metrics import (
    bootstrap_ci,
    detection_metrics,
    fpr_at_tpr,
    paired_auroc_difference,
    validation_auroc,
)
from tasks.anomaly.protocol import OneClassSplit, one_class_split, reference_calibration_split
from tasks.anomaly.scores import (
    REQUIREMENT,
    SCORES,
    Evidence,
    Score,
    gather_evidence,
    make_score,
    model_nll_bits,
    score_images,
)
from tasks.anomaly.spec import AnomalySpec
from tasks.anomaly.threshold import ConformalThreshold
from tasks.registry import TaskDefinition

TASK = TaskDefinition(
    "anomaly",
    AnomalySpec,
    run,
    "fit on normal images only, flag what the model finds unlikely, with a calibrated threshold",
)

__all__ = [
    "BASELINES",
    "COMPRESSOR_BASELINES",
    "REQUIREMENT",
    "SCORES",
    "TASK",
    "AnomalySpec",
    "ConformalThreshold",
    "DetectionResult",
    "Detector",
    "Evidence",
    "LayoutDensity",
    "OneClassSplit",
    "Score",
    "background_data",
    "bootstrap_ci",
    "code_length_bits",
    "detection_metrics",
    "evaluate_detector",
    "fit_baseline",
    "fit_compressor_baseline",
    "fpr_at_tpr",
    "gains_over_best_baseline",
    "gather_evidence",
    "layout_view",
    "make_score",
    "model_nll_bits",
    "one_class_split",
    "paired_auroc_difference",
    "perturb",
    "reference_calibration_split",
    "score_images",
    "validation_auroc",
]

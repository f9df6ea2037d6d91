"""Anomaly detection by density: fit on normal data only, flag what the model finds unlikely."""

from tasks.anomaly.baselines import BASELINES, fit_baseline
from tasks.anomaly.detector import DetectionResult, evaluate_detector
from tasks.anomaly.metrics import bootstrap_ci, detection_metrics, fpr_at_tpr
from tasks.anomaly.protocol import OneClassSplit, one_class_split
from tasks.anomaly.scores import REQUIREMENT, SCORES, score_images
from tasks.anomaly.threshold import ConformalThreshold

__all__ = [
    "BASELINES",
    "REQUIREMENT",
    "SCORES",
    "ConformalThreshold",
    "DetectionResult",
    "OneClassSplit",
    "bootstrap_ci",
    "detection_metrics",
    "evaluate_detector",
    "fit_baseline",
    "fpr_at_tpr",
    "one_class_split",
    "score_images",
]

"""Data augmentation with generated samples, measured against real-only and classic augmentation."""

from tasks.augment.experiment import ARMS, AugmentConfig, run_augment, summarize
from tasks.classifier import ClassifierConfig, accuracy, predict_proba, train_classifier
from tasks.fewshot import FewShot, draw_few_shot
from tasks.generate import generate_labelled

__all__ = [
    "ARMS",
    "AugmentConfig",
    "ClassifierConfig",
    "FewShot",
    "accuracy",
    "draw_few_shot",
    "generate_labelled",
    "predict_proba",
    "run_augment",
    "summarize",
    "train_classifier",
]

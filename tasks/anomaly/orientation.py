"""Which way a baseline points: as it is, flipped, or two-sided, chosen without the test split.

A baseline's score has a direction built in (a longer code, a lower density = anomalous), and on
some data the anomalies lie the other way (hazier X-rays compress better) or on both sides. Each
baseline, like each model score, may therefore take the form its selection set prefers (the
validation split's anomalies, or synthetic ones), so that a model is compared with the best a
baseline can honestly do.
"""

from __future__ import annotations

import numpy as np

from tasks.anomaly.metrics import validation_auroc

FORMS = ("as-is", "flipped", "two-sided")


def orient(form: str, scores: np.ndarray, center: float) -> np.ndarray:
    """``scores`` in the given form: unchanged, negated, or their distance from ``center``."""
    s = np.asarray(scores, dtype=np.float64)
    if form == "as-is":
        return s
    if form == "flipped":
        return -s
    if form == "two-sided":
        return np.abs(s - center)
    raise ValueError(f"unknown form '{form}'; forms: {', '.join(FORMS)}")


def choose_form(normal: np.ndarray, anomalous: np.ndarray, center: float) -> str:
    """The form under which ``anomalous`` scores rank highest against ``normal`` ones (AUROC);
    the first of equals in :data:`FORMS` order, so ``as-is`` wins ties."""
    aurocs = [
        validation_auroc(orient(f, normal, center), orient(f, anomalous, center)) for f in FORMS
    ]
    return FORMS[int(np.argmax(aurocs))]

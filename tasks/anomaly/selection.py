"""Choosing the deployed score on labelled validation anomalies without chasing noise.

A validation split is often small: RetinaMNIST's holds about 40 normal calibration images and
66 anomalous ones. Taking whichever of eight scores has the highest validation AUROC (``best``) then
picks, in part, the score that was luckiest on those images, and a retrain or another draw of
the same size may rank them otherwise. ``confident`` keeps the score fixed in advance (the
spec's ``score``, the one deployed where no anomaly is labelled) unless another score beats it on
the validation images by more than chance: the paired bootstrap interval of its validation AUROC
gain (both scores on each resample of the same images, resampled within each class) lies above
zero. Of the scores that do, the one with the highest validation AUROC is deployed.

The rule, the 95% level and the default were fixed before the rule was first run; which data
each decision looked at is in ``benchmarks/results/anomaly.md``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from tasks.anomaly.metrics import paired_auroc_difference, validation_auroc

#: the columns :func:`validation_gains` adds to a run's results table
GAIN_COLUMNS = ("val_gain", "val_gain_ci_low", "val_gain_ci_high")


def validation_gains(
    methods: Sequence[str],
    normal: Sequence[np.ndarray],
    anomalous: Sequence[np.ndarray],
    default: int = 0,
    n_boot: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """Each score's validation AUROC and its gain over the ``default``-th score's, with a paired
    95% bootstrap interval. ``normal[i]`` and ``anomalous[i]`` are the ``i``-th score of the same
    normal and anomalous validation images, in the same order for every score. One row per
    method: ``method``, ``val_auroc`` and :data:`GAIN_COLUMNS` (0 for the default itself)."""
    if not len(methods) == len(normal) == len(anomalous) or not methods:
        raise ValueError(
            f"need the normal and anomalous validation scores of each method: {len(methods)} "
            f"methods, {len(normal)} and {len(anomalous)} score arrays"
        )
    if not 0 <= default < len(methods):
        raise ValueError(f"default {default} is not one of the {len(methods)} methods")
    truth = np.r_[np.zeros(len(normal[default]), bool), np.ones(len(anomalous[default]), bool)]
    both = [np.r_[n, a] for n, a in zip(normal, anomalous, strict=True)]
    rows = []
    for i, method in enumerate(methods):
        row = {"method": method, "val_auroc": validation_auroc(normal[i], anomalous[i])}
        if i == default:
            row.update(dict.fromkeys(GAIN_COLUMNS, 0.0))
        else:
            gain = paired_auroc_difference(truth, both[i], both[default], n_boot, seed=seed)
            row.update(zip(GAIN_COLUMNS, gain, strict=True))
        rows.append(row)
    return pd.DataFrame(rows)


def confident_pick(val_auroc: np.ndarray, gain_ci_low: np.ndarray, default: int = 0) -> int:
    """The index ``confident`` deploys: of the scores whose validation gain over the default's
    has its interval above zero, the one with the highest validation AUROC (the first of
    equals); the default where none has."""
    val_auroc, gain_ci_low = np.asarray(val_auroc, float), np.asarray(gain_ci_low, float)
    if val_auroc.shape != gain_ci_low.shape or not 0 <= default < len(val_auroc):
        raise ValueError(
            f"{len(val_auroc)} validation AUROCs, {len(gain_ci_low)} interval bounds and default "
            f"{default} do not match"
        )
    beyond_chance = np.flatnonzero(gain_ci_low > 0)
    if beyond_chance.size == 0:
        return default
    return int(beyond_chance[np.argmax(val_auroc[beyond_chance])])

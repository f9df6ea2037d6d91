"""The anomaly-detection experiment: one-class split -> model (and background) -> evidence ->
every score and baseline calibrated and measured -> the primary score's detector.

The model trains on normal training images only. Normal validation images are split into a
reference part (fits the scores that have state) and a calibration part (the conformal
threshold); the test split only measures. Where the validation split holds anomalous images, every
detector also gets its validation AUROC, and ``select_by: validation`` picks the primary score by
it, so the test split never chooses.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from genmodels.contract import GenerativeModel
from genmodels.data.imageset import ImageSet
from genmodels.data.inputs import conform
from genmodels.data.spec import load_splits
from genmodels.errors import DataError
from tasks.anomaly.background import background_data
from tasks.anomaly.comparison import gains_over_best_baseline
from tasks.anomaly.corruptions import corrupt
from tasks.anomaly.detector import Detector
from tasks.anomaly.evaluation import DetectionResult
from tasks.anomaly.figures import roc_figure, score_histogram, synthetic_grid
from tasks.anomaly.layout import LayoutDensity
from tasks.anomaly.localization import judge_maps
from tasks.anomaly.protocol import OneClassSplit, one_class_split, reference_calibration_split
from tasks.anomaly.scores import Evidence, Score, gather_evidence, make_score
from tasks.anomaly.selection import GAIN_COLUMNS, confident_pick, validation_gains
from tasks.anomaly.setting import Scores, Setting, baseline_result, compressor_baseline_result
from tasks.anomaly.spec import AnomalySpec
from tasks.anomaly.threshold import ConformalThreshold
from tasks.inputs import ModelTrainer, TaskInputs
from tasks.plots import image_grid
from tasks.result import Stage, TaskResult

#: how each detector did on the kinds of synthetic anomalies: in results.csv, not printed
SYNTHETIC_BREAKDOWN = (
    "synthetic_local_auroc",
    "synthetic_global_auroc",
    "synthetic_mean_kind_auroc",
    "synthetic_worst_kind_auroc",
)
METRIC_COLUMNS = (
    "val_auroc",
    "synthetic_auroc",
    *SYNTHETIC_BREAKDOWN,
    "auroc",
    "auroc_ci_low",
    "auroc_ci_high",
    "auprc",
    "fpr_at_95tpr",
    "fpr_at_threshold",
    "tpr_at_threshold",
)
#: the metrics of every detector the pipeline's own run carries as ``<method>.<metric>``
KEY_METRICS = ("auroc", "auprc", "fpr_at_95tpr", "val_auroc", "synthetic_auroc")


@dataclass(frozen=True)
class _Evidence:
    """The evidence of the model's scores on each part of the split, computed once."""

    reference: Evidence
    calibration: Evidence
    test: Evidence
    val_anomalous: Evidence | None  # None when the validation split holds no anomalies
    synthetic: Evidence | None  # None when no synthetic anomalies are scored


def results_table(results: list[tuple[str, DetectionResult]]) -> pd.DataFrame:
    """One row per detector: its kind (likelihood kind or ``baseline``) and its metrics."""
    rows = [
        {"method": r.method, "kind": kind, **{k: r.metrics.get(k, np.nan) for k in METRIC_COLUMNS}}
        for kind, r in results
    ]
    return pd.DataFrame(rows)


def reference_and_calibration(n_val: int, spec: AnomalySpec, seed: int) -> tuple[np.ndarray, ...]:
    """Split the normal validation images when a score has state to fit; else all calibrate."""
    if not any(make_score(name).needs_reference for name in spec.all_scores):
        everything = np.arange(n_val)
        return everything, everything  # reference unused by stateless scores
    reference, calibration = reference_calibration_split(n_val, spec.reference_fraction, seed)
    need = ConformalThreshold.min_calibration(spec.target_fpr)
    if len(calibration) < need:
        raise DataError(
            f"{n_val} normal validation images leave {len(calibration)} for calibration after "
            f"task.reference_fraction={spec.reference_fraction}; a target FPR of "
            f"{spec.target_fpr} needs at least {need}: lower the fraction or raise the FPR"
        )
    return reference, calibration


def _score_plots(stage: Stage, method: str, test_scores: np.ndarray, result: DetectionResult,
                 data: OneClassSplit) -> None:  # fmt: skip
    threshold = result.threshold.threshold
    stage.figure("histogram", score_histogram(data.test_is_anomaly, test_scores, threshold, method))
    order = np.argsort(test_scores)
    images = data.test.images.numpy()
    most = image_grid(images[order[-32:][::-1]], title=f"most anomalous test images ({method})")
    stage.figure("most_anomalous", most)
    least = image_grid(images[order[:32]], title=f"least anomalous test images ({method})")
    stage.figure("least_anomalous", least)


def _score_stage(
    model: GenerativeModel, name: str, evidence: _Evidence, setting: Setting
) -> tuple[Score, DetectionResult, Stage, Scores]:
    score = make_score(name).fit(evidence.reference)
    method = f"{model.name}:{name}"
    stage = Stage(
        name=f"task:anomaly:{method}", tags={"stage": "task", "score": name}, params={"score": name}
    )
    test_scores = score(evidence.test)
    scores = Scores(
        score(evidence.calibration),
        test_scores,
        None if evidence.val_anomalous is None else score(evidence.val_anomalous),
        None if evidence.synthetic is None else score(evidence.synthetic),
    )
    result = setting.evaluate(method, precomputed=scores)
    stage.metrics.update(result.metrics)
    stage.tables["test_scores"] = result.per_sample
    _score_plots(stage, method, test_scores, result, setting.data)
    return score, result, stage, scores


def _baseline_stage(method: str, result: DetectionResult, form: str) -> Stage:
    tags = {"stage": "baseline", "model": method, "likelihood": "baseline", "form": form}
    params = {"baseline": method, "form": form}
    return Stage(name=f"baseline:{method}", tags=tags, params=params, metrics=dict(result.metrics))


def _background(
    models: ModelTrainer, data: OneClassSplit, spec: AnomalySpec, seed: int,
    params: dict[str, object], log: Callable[[str], None],
) -> GenerativeModel | None:  # fmt: skip
    """Train the likelihood-ratio background (None when the spec has none); records where its
    images came from in ``params``."""
    bg = spec.background
    if bg is None:
        return None
    train_source, val_source, source = data.train, data.val, "normal images"
    if bg.data is not None:  # a general-domain data set, made to look like the normal images
        splits = load_splits(bg.data)
        shape, levels = data.train.image_shape, data.train.levels
        train_source = conform(splits["train"], shape, levels, grayscale=True)
        val_source = conform(splits["val"], shape, levels, grayscale=True)
        source = f"{bg.data.name} ({len(train_source)} images)"
    params["background_source"] = source
    train = background_data(train_source, bg.mutation_rate, seed, bg.copies)
    val = background_data(val_source, bg.mutation_rate, seed + 1)
    background = models.build(data.train.image_shape, data.train.levels, seed, overrides=bg.params)
    t0 = time.perf_counter()
    own_params = {**models.params, **bg.params} if bg.params else None
    fit = models.fit(background, train, val, "background", bg.max_epochs, own_params)
    log(
        f"trained background {background.name} on {source}, mutation rate {bg.mutation_rate}"
        + (f", parameters {bg.params}" if bg.params else "")
        + f", in {time.perf_counter() - t0:.1f} s ({fit.epochs} epochs)"
    )
    return background


def _split(
    splits: Mapping[str, ImageSet], spec: AnomalySpec, data_name: str
) -> tuple[OneClassSplit, str]:
    """The one-class split and how this run picks its primary score (``validation``,
    ``synthetic``, ``fixed`` or ``score``); refuses a selection the data cannot support:
    ``validation`` without validation anomalies, ``score`` (judged by test AUROC) without test
    anomalies."""
    data = one_class_split(dict(splits), spec.normal_classes)
    selection = spec.selection(data.val_anomalous is not None)
    if selection == "validation":
        data.require_val_anomalous(f"task.select_by=validation on '{data_name}'")
    if selection == "score":
        data.require_test_anomalous(
            f"task.select_by=score (models judged by test AUROC) on '{data_name}'"
        )
    return data, selection


def _select_primary(
    scored: list[tuple[Score, DetectionResult]], selection: str, metric: str,
    log: Callable[[str], None], gains: pd.DataFrame | None = None,
) -> tuple[Score, DetectionResult]:  # fmt: skip
    """The spec's primary score, or the model score with the highest validation (or synthetic)
    AUROC, ``metric`` (the first of equals, in the spec's order); with the validation ``gains``
    over the primary (:func:`~tasks.anomaly.selection.validation_gains`), the ``confident``
    rule's pick."""
    if selection == "score":
        return scored[0]
    if selection == "fixed":
        log(f"deployed {scored[0][1].method}, the score fixed in advance; no label was read")
        return scored[0]
    if gains is not None:
        return scored[_confident(gains, log)]
    best = max(scored, key=lambda pair: pair[1].metrics[metric])
    listing = ", ".join(f"{r.method} {r.metrics[metric]:.4f}" for _, r in scored)
    what = "validation AUROC" if selection == "validation" else "AUROC on synthetic anomalies"
    log(f"selected {best[1].method} by {what} ({listing}); the test split was not used")
    return best


def _confident(gains: pd.DataFrame, log: Callable[[str], None]) -> int:
    pick = confident_pick(gains["val_auroc"].to_numpy(), gains["val_gain_ci_low"].to_numpy())
    listing = ", ".join(
        f"{r.method} {r.val_gain:+.3f} [{r.val_gain_ci_low:+.3f}, {r.val_gain_ci_high:+.3f}]"
        for r in gains.iloc[1:].itertuples()
    )
    first = gains["method"].iloc[0]
    verdict = (
        f"kept {first}: no score's validation AUROC beats it beyond chance"
        if pick == 0
        else f"selected {gains['method'].iloc[pick]}: its validation AUROC beats {first}'s "
        "beyond chance"
    )
    log(f"{verdict} (gains over {first}, paired bootstrap 95%: {listing}); no test label read")
    return pick


def _gains(
    results: list[tuple[str, DetectionResult]], setting: Setting, log: Callable[[str], None]
) -> pd.DataFrame:
    """Each model score's AUROC gain over the run's best baseline (paired bootstrap); empty
    when the run has no baseline or its test split no anomalies."""
    if not setting.data.test_has_both:
        return pd.DataFrame()
    gains = gains_over_best_baseline(
        [r for kind, r in results if kind != "baseline"],
        [r for kind, r in results if kind == "baseline"],
        setting.data.test_is_anomaly,
        setting.spec.bootstrap,
        setting.seed,
    )
    if not gains.empty:
        best = gains.sort_values("auroc_gain").iloc[-1]
        log(
            f"best model score {best['method']} vs best baseline {best['best_baseline']}: "
            f"AUROC {best['auroc_gain']:+.3f} [{best['auroc_gain_ci_low']:+.3f}, "
            f"{best['auroc_gain_ci_high']:+.3f}] (paired bootstrap)"
        )
    return gains


def run(inputs: TaskInputs[AnomalySpec]) -> TaskResult:
    """The task's entry point: train on normal images, score, calibrate, measure every detector
    beside the baselines, and deliver the primary score's :class:`Detector`."""
    spec, seed, log = inputs.spec, inputs.seed, inputs.log
    data, selection = _split(inputs.data, spec, inputs.data_name)
    n_anomalous = int(data.test_is_anomaly.sum())
    result = TaskResult(
        params={
            "n_train_normal": len(data.train),
            "n_val_normal": len(data.val),
            "n_test": len(data.test),
            "n_test_anomalous": n_anomalous,
            "n_val_anomalous": 0 if data.val_anomalous is None else len(data.val_anomalous),
            "image_shape": "x".join(map(str, data.train.image_shape)),
            "levels": data.train.levels,
            "selected_by": selection,
        }
    )
    log(
        f"data: {inputs.data_name}, normal classes {list(spec.normal_classes)}: "
        f"{len(data.train)} train / {len(data.val)} val normal, {len(data.test)} test "
        f"({n_anomalous} anomalous)"
    )
    model = inputs.models.build(data.train.image_shape, data.train.levels, seed)
    t0 = time.perf_counter()
    fit = inputs.models.fit(model, data.train, data.val)
    log(
        f"trained {model.name} in {time.perf_counter() - t0:.1f} s ({fit.epochs} epochs, "
        f"best {model.monitor} {fit.best_score:.4f})"
    )
    background = _background(inputs.models, data, spec, seed, result.params, log)
    reference, calibration = reference_and_calibration(len(data.val), spec, seed)
    shared = reference is calibration or np.array_equal(reference, calibration)
    result.params.update(
        n_reference=0 if shared else len(reference), n_calibration=len(calibration)
    )
    layout = None
    if spec.layout is not None:
        layout = LayoutDensity.fit(data.train.images, spec.layout.image_size)
        result.params["layout_size"] = "x".join(map(str, layout.size))

    def gather(images: torch.Tensor) -> Evidence:
        return gather_evidence(model, images, background, spec.batch_size, spec.compressor, layout)

    val = gather(data.val.images)
    anomalous = None if data.val_anomalous is None else gather(data.val_anomalous.images)
    synthetic = None
    if spec.synthetic_anomalies:  # made from the calibration images, donors from training
        synthetic = corrupt(
            data.val.images[calibration], data.train.images, data.train.levels, seed + 2
        )
        result.params["n_synthetic_anomalies"] = len(synthetic.images)
    evidence = _Evidence(
        val.subset(reference),
        val.subset(calibration),
        gather(data.test.images),
        anomalous,
        None if synthetic is None else gather(synthetic.images),
    )
    center_images = data.val.images[reference] if not shared else data.train.images
    setting = Setting(data, calibration, spec, seed, synthetic, selection, center_images)
    scored, validation = [], []
    for name in spec.all_scores:
        score, detection, stage, scores = _score_stage(model, name, evidence, setting)
        scored.append((score, detection))
        validation.append(scores)
        result.stages.append(stage)
    results = [(model.likelihood.value, r) for _, r in scored]
    baselines = [baseline_result(name, setting) for name in spec.baselines]
    baselines += [compressor_baseline_result(name, setting) for name in spec.compressor_baselines]
    forms = {}
    for baseline, form in baselines:
        result.stages.append(_baseline_stage(baseline.method, baseline, form))
        results.append(("baseline", baseline))
        forms[baseline.method] = form

    table = results_table(results)
    table.insert(2, "form", table["method"].map(forms).fillna("-"))
    gains = _gains(results, setting, log)
    if not gains.empty:
        result.metrics.update(
            zip(gains["method"] + ".auroc_gain", gains["auroc_gain"].astype(float), strict=True)
        )
        table = table.merge(gains, on="method", how="left")
    result.metrics.update(
        {f"{r.method}.{k}": r.metrics[k] for _, r in results for k in KEY_METRICS if k in r.metrics}
    )
    val_gains = None
    if selection == "validation" and spec.validation_rule == "confident":
        val_gains = validation_gains(
            [r.method for _, r in scored],
            [s.calibration for s in validation],
            [s.val_anomalous for s in validation if s.val_anomalous is not None],
            n_boot=spec.bootstrap,
            seed=seed,
        )
        table = table.merge(val_gains.drop(columns="val_auroc"), on="method", how="left")
        for row in val_gains.itertuples():
            result.metrics.update({f"{row.method}.{c}": getattr(row, c) for c in GAIN_COLUMNS})
    result.tables["results"] = table
    if data.test_has_both:
        curves = {r.method: r.per_sample["score"].to_numpy() for _, r in results}
        result.figure("roc", roc_figure(data.test_is_anomaly, curves))
    if synthetic is not None:
        result.figure(
            "synthetic_anomalies", synthetic_grid(data.val.images[calibration], synthetic)
        )
    metric = spec.selection_metric(selection)
    primary_score, primary = _select_primary(scored, selection, metric, log, val_gains)
    if selection != "score":
        result.tags["selected_score"] = primary_score.name
    detector = Detector.keeping_what_it_uses(
        model, primary_score, primary.threshold, background, layout, spec.compressor,
        spec.batch_size,
    )  # fmt: skip
    result.model = detector
    result.selection = (metric, primary.metrics[metric])
    # the deployed detector's numbers under keys that do not name the model, so runs of
    # different models compare column by column
    result.metrics.update(
        {f"selected.{k}": primary.metrics[k] for k in (*KEY_METRICS, "fpr_at_threshold")
         if k in primary.metrics}
    )  # fmt: skip
    if spec.maps:  # the delivered detector carries the map it was judged by
        result.model = detector = judge_maps(result, detector, data, seed, log)
    result.table = table.drop(columns=[c for c in SYNTHETIC_BREAKDOWN if c in table])
    return result

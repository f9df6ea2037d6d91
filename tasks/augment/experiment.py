"""The augmentation experiment: every arm, every k, every seed, on the real test split.

For each ``k`` and seed: draw k labelled images per class; fit the generator on them only; train
the classifier (one recipe) on each arm's images; measure accuracy on the untouched test split.

Arms:
    real                 the k-shot real images only
    real+gen             plus ``multiplier`` x as many generated images, labelled by class
    real+classic         real images with classic random affine augmentation
    real+classic+gen     both
                         (with ``generator_copies``, the generator trains on the k-shot images
                         and that many classic-augmented copies of each)
    real+gen-filtered    real+gen keeping samples the real-data classifier assigns to their
                         intended class with probability >= ``filter_threshold``
    real+classic+gen-pretrain
                         the classifier is first trained on ``pretrain_multiplier`` x as many
                         generated images (with classic augmentation), then fine-tuned on the
                         real images with classic augmentation
    real+classic+pseudo-pretrain
                         the same with unlabelled training images instead of generated ones,
                         labelled by the real-data classifier (pseudo-labels, no generator):
                         what a generator fit on the unlabelled pool has to beat
    real+classic+gen-pretrain-cv
                         per draw, real+classic+gen-pretrain where stratified cross-validation
                         inside the k labelled images (``cv_folds`` folds) scores it strictly
                         above real+classic, and real+classic otherwise: the choice a user
                         without test labels can make (its rows say which was chosen)
    synthetic-only       generated images only (train on synthetic, test on real)

What the generator sees (``generator_data``): ``kshot``, a new conditional generator per draw fit
on the k labelled images alone; or ``unlabelled-pool``, one unconditional generator for every
draw, fit on all training images without their labels (a semi-supervised protocol: labels come
only from the k-shot classifier, which names each sample). The test split is never seen.

How an unconditional latent generator is sampled (``sampling``): ``class-interpolation`` decodes,
for class c, a point between the codes of two of the draw's labelled images of class c, so the
draw's own labels name its samples instead of the k-shot classifier (in the cross-validated arm,
only the fold's labelled images are drawn between); ``class-detail`` adds the same decoded move
to the first labelled image, which keeps its own detail.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import pandas as pd
import torch
from matplotlib.figure import Figure

from genmodels.contract import GenerativeModel
from genmodels.data.imageset import ImageSet, labelled_classes
from tasks.augment.draw import GeneratorFit, run_draw
from tasks.augment.spec import CV_ARM, AugmentSpec
from tasks.inputs import ModelTrainer, TaskInputs
from tasks.plots import ci_curves
from tasks.result import TaskResult
from tasks.stats import mean_ci


def run_augment(
    pool: ImageSet,
    test: ImageSet,
    num_classes: int,
    fit_generator: GeneratorFit,
    config: AugmentSpec,
    log: Callable[[str], None] = print,
    shared_fit_seconds: float = 0.0,
) -> pd.DataFrame:
    """One row per (k, seed, arm): test accuracy and what the arm trained on.
    ``shared_fit_seconds``: the fit of a generator shared by every draw, counted in each row of
    an arm that uses it (``generator_seconds``)."""
    rows = []
    for k in (None if k == "all" else int(k) for k in config.ks):
        for seed in config.seeds:
            rows += run_draw(
                pool, test, num_classes, fit_generator, config, k, seed, log, shared_fit_seconds
            )
    return pd.DataFrame(rows)


def fit_pool_generator(
    models: ModelTrainer, pool: ImageSet, steps: int, seed: int
) -> tuple[GenerativeModel, float]:
    """The spec's (unconditional) model fit on every pool image without its label, for about
    ``steps`` optimizer steps (a tenth of the pool, drawn under ``seed``, validates); the model
    and the seconds it took. Recorded as the stage ``generator-pool``."""
    t0 = time.perf_counter()
    unlabelled = ImageSet(pool.images, None, levels=pool.levels)
    order = torch.randperm(len(pool), generator=torch.Generator().manual_seed(seed))
    n_val = max(1, len(pool) // 10)
    fit, val = unlabelled.subset(order[n_val:]), unlabelled.subset(order[:n_val])
    epochs = max(1, round(steps / math.ceil(len(fit) / models.batch_size)))
    model = models.build(pool.image_shape, pool.levels, seed)
    models.fit(model, fit, val, role="generator-pool", max_epochs=epochs)
    return model, time.perf_counter() - t0


def _paired_gain(
    rows: pd.DataFrame, k: object, acc: pd.Series, baseline: str, confidence: float
) -> dict[str, float]:
    base = rows[(rows["k"] == k) & (rows["arm"] == baseline)].set_index("seed")["accuracy"]
    return mean_ci((acc - base).dropna(), confidence) if len(base) else {}


def summarize(rows: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """Per (k, arm): mean accuracy with a t-interval over seeds, the paired gain over ``real``
    and, for arms beyond it, the paired gain over ``real+classic`` (what a generator must beat:
    classic augmentation costs nothing to train)."""
    out = []
    for (k, arm), group in rows.groupby(["k", "arm"], sort=False):
        acc = group.set_index("seed")["accuracy"]
        row: dict[str, object] = {
            "k": k,
            "arm": arm,
            "seeds": len(acc),
            **mean_ci(acc, confidence),
        }
        for baseline, prefix in (("real", "gain"), ("real+classic", "gain_vs_classic")):
            if arm in ("real", baseline):
                continue
            gain = _paired_gain(rows, k, acc, baseline, confidence)
            if gain:
                row.update(
                    {
                        prefix: gain["mean"],
                        f"{prefix}_ci_low": gain["ci_low"],
                        f"{prefix}_ci_high": gain["ci_high"],
                    }
                )
        out.append(row)
    return pd.DataFrame(out)


def metric_name(arm: str) -> str:
    """Tracking metric names allow no '+': ``real+classic+gen`` -> ``real_classic_gen``."""
    return arm.replace("+", "_")


def accuracy_figure(summary: pd.DataFrame) -> Figure:
    groups = {
        str(arm): (list(g["k"]), list(g["mean"]), list(g["ci_low"]), list(g["ci_high"]))
        for arm, g in summary.groupby("arm", sort=False)
    }
    return ci_curves(
        groups,
        "labelled real images per class (k)",
        "test accuracy (mean, 95% CI over seeds)",
        categorical_x=True,
    )


def run(inputs: TaskInputs[AugmentSpec]) -> TaskResult:
    """The task's entry point: every arm, k and seed on the data's train (pool) and test splits.

    Records ``acc.<arm>.k<k>`` (mean over seeds), ``gain.<arm>.k<k>`` and
    ``gain_vs_classic.<arm>.k<k>`` (``+`` in arm names becomes ``_``), with the cross-validated
    arm ``cv_chose_pretrain.k<k>`` (the share of draws that kept the generator), the per-draw
    rows and the summary as tables, and accuracy against k for every arm. Only the train split
    is ever drawn from; the test split only measures.
    """
    pool, test = inputs.data["train"], inputs.data["test"]
    num_classes = labelled_classes({"training": pool, "test": test}, "augment")
    result = TaskResult(
        params={"n_pool": len(pool), "n_test": len(test), "num_classes": num_classes}
    )
    inputs.log(f"data: {inputs.data_name}: pool {len(pool)} labelled, test {len(test)}")

    def fit_generator(fit: ImageSet, val: ImageSet, seed: int) -> GenerativeModel:
        model = inputs.models.build(fit.image_shape, fit.levels, seed, num_classes)
        inputs.models.fit_unrecorded(model, fit, val, seed)
        return model

    shared = 0.0
    result.params["generator_data"] = inputs.spec.generator_data
    if inputs.spec.generator_data == "unlabelled-pool" and inputs.spec.needs_generator:
        generative, shared = fit_pool_generator(
            inputs.models, pool, inputs.spec.pool_generator_steps, inputs.seed
        )
        inputs.log(
            f"generator '{generative.name}' fit on {len(pool)} unlabelled training images in "
            f"{shared:.1f} s; the k-shot classifier of each draw labels its samples"
        )
        result.metrics["generator_pool_seconds"] = shared

        def fit_generator(fit: ImageSet, val: ImageSet, seed: int) -> GenerativeModel:
            return generative

    rows = run_augment(pool, test, num_classes, fit_generator, inputs.spec, inputs.log, shared)
    summary = summarize(rows)
    for _, r in summary.iterrows():
        key = f"{metric_name(str(r['arm']))}.k{r['k']}"
        result.metrics[f"acc.{key}"] = float(r["mean"])
        for column in ("gain", "gain_vs_classic"):
            if column in r and pd.notna(r[column]):
                result.metrics[f"{column}.{key}"] = float(r[column])
    if CV_ARM in inputs.spec.arms:  # how often the draws' cross-validation kept the generator
        for k, draws in rows[rows["arm"] == CV_ARM].groupby("k", sort=False):
            chose = (draws["chosen"] == "real+classic+gen-pretrain").mean()
            result.metrics[f"cv_chose_pretrain.k{k}"] = float(chose)
    result.tables.update(rows=rows, results=summary)
    result.figure("accuracy_vs_k", accuracy_figure(summary))
    result.table = summary
    return result

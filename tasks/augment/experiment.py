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
only the fold's labelled images are drawn between).
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable

import pandas as pd
import torch
from matplotlib.figure import Figure

from genmodels.contract import Capability, GenerativeModel
from genmodels.data.imageset import ImageSet, labelled_classes
from tasks.augment.choice import choose_arm
from tasks.augment.spec import CV_ARM, AugmentSpec
from tasks.classifier import (
    ClassifierModule,
    accuracy,
    predict_proba,
    train_classifier,
)
from tasks.fewshot import FewShot, draw_few_shot, with_images
from tasks.generate import ClassSampler, Generated, generate_labelled
from tasks.inputs import ModelTrainer, TaskInputs
from tasks.latent_sampling import class_interpolation_sampler, latent_mixture_sampler
from tasks.plots import ci_curves
from tasks.result import TaskResult
from tasks.stats import mean_ci
from tasks.warps import classic_augmentation, with_warped_copies

GeneratorFit = Callable[[ImageSet, ImageSet, int], GenerativeModel]


def draw_fingerprint(few: FewShot) -> str:
    """A short hash of the labelled images and labels a draw holds (fitting and validation):
    equal for two runs that drew the same sets, whatever their training did afterwards."""
    digest = hashlib.sha1()
    for part in (few.fit, few.val):
        assert part.labels is not None
        digest.update(part.images.numpy().tobytes())
        digest.update(part.labels.numpy().tobytes())
    return digest.hexdigest()[:12]


def _one_draw(
    pool: ImageSet,
    test: ImageSet,
    num_classes: int,
    fit_generator: GeneratorFit,
    config: AugmentSpec,
    k: int | None,
    seed: int,
    log: Callable[[str], None],
    shared_fit_seconds: float = 0.0,
) -> list[dict[str, object]]:
    few: FewShot = draw_few_shot(pool, k, seed)
    drawn = draw_fingerprint(few)
    clf = config.classifier
    rows: list[dict[str, object]] = []

    fit_seconds = 0.0  # the generator's fit, shared by every arm that uses its samples

    def record(
        arm: str,
        model: ClassifierModule,
        n_real: int,
        gen: Generated | None,
        t0: float,
        **extra: object,
    ) -> None:
        rows.append(
            {
                "k": "all" if k is None else k,
                "seed": seed,
                "draw": drawn,
                "arm": arm,
                "accuracy": accuracy(model, test),
                "n_real": n_real,
                "n_generated": 0 if gen is None else len(gen.labels),
                "kept_fraction": 1.0 if gen is None else gen.kept_fraction,
                "seconds": time.perf_counter() - t0,
                "generator_seconds": 0.0 if gen is None else fit_seconds,
                **extra,
            }
        )

    def train_classic(
        fit: ImageSet, val: ImageSet, init: ClassifierModule | None = None
    ) -> ClassifierModule:
        """The classifier with classic warps (from ``init``'s weights when given)."""
        warps = classic_augmentation(seed, config.flips)
        return train_classifier(fit, val, num_classes, clf, seed, warps, init=init)

    def pretrain_then_fine_tune(pretrain: ImageSet) -> ClassifierModule:
        """Train on ``pretrain``, then fine-tune on the real k-shot images; warps in both."""
        return train_classic(few.fit, few.val, init=train_classic(pretrain, few.val))

    t0 = time.perf_counter()
    real_model = train_classifier(few.fit, few.val, num_classes, clf, seed)
    if "real" in config.arms:
        record("real", real_model, len(few.fit), None, t0)
    classic_model: ClassifierModule | None = None
    if "real+classic" in config.arms or CV_ARM in config.arms:
        t0 = time.perf_counter()
        classic_model = train_classic(few.fit, few.val)
        if "real+classic" in config.arms:
            record("real+classic", classic_model, len(few.fit), None, t0)
    if "real+classic+pseudo-pretrain" in config.arms:
        t0 = time.perf_counter()
        many = max(1, round(config.pretrain_multiplier * len(few.fit)))
        chosen = torch.randperm(len(pool), generator=torch.Generator().manual_seed(seed))[:many]
        images = pool.images[chosen]
        labels = predict_proba(real_model, images).argmax(dim=1)
        model = pretrain_then_fine_tune(ImageSet(images, labels, levels=pool.levels))
        record("real+classic+pseudo-pretrain", model, len(few.fit), None, t0)
    if not config.needs_generator:
        return rows

    t0 = time.perf_counter()
    gen_train = with_warped_copies(few.fit, config.generator_copies, seed + 1, config.flips)
    generative = fit_generator(gen_train, few.val, seed)
    sampler = None
    if config.sampling == "latent-mixture":  # codes of the images the generator trained on
        seen = pool.images if config.generator_data == "unlabelled-pool" else gen_train.images
        sampler = latent_mixture_sampler(generative, seen, config.latent_components, seed)
    fit_seconds = time.perf_counter() - t0 + shared_fit_seconds
    per_class = max(1, round(config.multiplier * len(few.fit) / num_classes))

    def labeller(images: torch.Tensor) -> torch.Tensor:
        return predict_proba(real_model, images)

    def between(labelled: ImageSet) -> ClassSampler | None:
        """Class interpolation between the codes of ``labelled``'s images (None: not asked)."""
        if config.sampling != "class-interpolation":
            return None
        assert labelled.labels is not None
        return class_interpolation_sampler(generative, labelled.images, labelled.labels)

    between_fit = between(few.fit)  # the draw's own: its codes encoded once for every arm

    def generate(
        per_class: int,
        threshold: float | None = None,
        class_sampler: ClassSampler | None = between_fit,
    ) -> Generated:
        """The generator's labelled samples (by ``class_sampler`` where one is given)."""
        g = torch.Generator().manual_seed(seed)
        return generate_labelled(
            generative, per_class, num_classes, g, labeller, threshold,
            sampler=sampler, class_sampler=class_sampler,
        )  # fmt: skip

    generated = generate(per_class)
    how = {
        "prior": "",
        "latent-mixture": f" (decoded codes of a {config.latent_components}-component mixture)",
        "class-interpolation": " (decoded between the codes of two labelled images of a class)",
    }[config.sampling]
    log(
        f"k={k} seed={seed}: generator '{generative.name}' fit in {fit_seconds:.1f} s, "
        f"{len(generated.labels)} samples{how}"
    )
    mixed = with_images(few.fit, generated.images, generated.labels)
    for arm in ("real+gen", "real+classic+gen"):
        if arm in config.arms:
            t0 = time.perf_counter()
            augment = classic_augmentation(seed, config.flips) if "classic" in arm else None
            model = train_classifier(mixed, few.val, num_classes, clf, seed, augment)
            record(arm, model, len(few.fit), generated, t0)
    if "real+gen-filtered" in config.arms:
        t0 = time.perf_counter()
        kept = generate(per_class, config.filter_threshold)
        if len(kept.labels):
            filtered = with_images(few.fit, kept.images, kept.labels)
            model = train_classifier(filtered, few.val, num_classes, clf, seed)
        else:
            model = real_model  # nothing passed the filter: the arm is the real-only classifier
        record("real+gen-filtered", model, len(few.fit), kept, t0)
    if "real+classic+gen-pretrain" in config.arms or CV_ARM in config.arms:
        t0 = time.perf_counter()
        many = max(1, round(config.pretrain_multiplier * len(few.fit) / num_classes))
        pretrain_set = generate(many)
        synthetic = ImageSet(pretrain_set.images, pretrain_set.labels, levels=pool.levels)
        pretrain_model = pretrain_then_fine_tune(synthetic)
        if "real+classic+gen-pretrain" in config.arms:
            record("real+classic+gen-pretrain", pretrain_model, len(few.fit), pretrain_set, t0)
    if CV_ARM in config.arms:
        t0 = time.perf_counter()
        assert classic_model is not None and few.val.labels is not None
        relabel = not generative.supports(Capability.CONDITIONAL)

        def pretrain_from(fit: ImageSet, val: ImageSet) -> ClassifierModule:
            """The pretrain arm rebuilt from one fold's images alone: the same generated images,
            named by a classifier of ``fit`` (an unconditional generator's labels would otherwise
            come from a classifier that saw the held fold), or drawn between the codes of
            ``fit``'s images (class interpolation), pretrained on, then fine-tuned."""
            images, labels = synthetic.images, synthetic.labels
            if config.sampling == "class-interpolation":
                drawn = generate(many, class_sampler=between(fit))
                images, labels = drawn.images, drawn.labels
            elif relabel:
                fold_labeller = train_classifier(fit, val, num_classes, clf, seed)
                labels = predict_proba(fold_labeller, synthetic.images).argmax(dim=1)
            first = train_classic(ImageSet(images, labels, levels=pool.levels), val)
            return train_classic(fit, val, init=first)

        choice = choose_arm(
            with_images(few.fit, few.val.images, few.val.labels),
            {"real+classic": train_classic, "real+classic+gen-pretrain": pretrain_from},
            config.cv_folds,
            seed,
        )
        use_generated = choice.chosen == "real+classic+gen-pretrain"
        log(
            f"k={k} seed={seed}: {config.cv_folds}-fold cross-validation inside the k labelled "
            f"images: real+classic {choice.cv_accuracy['real+classic']:.3f}, pretrain "
            f"{choice.cv_accuracy['real+classic+gen-pretrain']:.3f} -> {choice.chosen}"
        )
        record(
            CV_ARM,
            pretrain_model if use_generated else classic_model,
            len(few.fit),
            pretrain_set if use_generated else None,
            t0,
            chosen=choice.chosen,
            cv_accuracy_classic=choice.cv_accuracy["real+classic"],
            cv_accuracy_pretrain=choice.cv_accuracy["real+classic+gen-pretrain"],
        )
    if "synthetic-only" in config.arms:
        t0 = time.perf_counter()
        synthetic = ImageSet(generated.images, generated.labels, levels=pool.levels)
        model = train_classifier(synthetic, few.val, num_classes, clf, seed)
        record("synthetic-only", model, 0, generated, t0)
    return rows


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
            rows += _one_draw(
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

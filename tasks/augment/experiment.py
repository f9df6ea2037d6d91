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
    synthetic-only       generated images only (train on synthetic, test on real)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, get_args

import pandas as pd
import torch

from genmodels.contract import GenerativeModel
from genmodels.data.imageset import ImageSet
from tasks.augment.classic import classic_augmentation, with_warped_copies
from tasks.classifier import (
    ClassifierConfig,
    ClassifierModule,
    accuracy,
    predict_proba,
    train_classifier,
)
from tasks.fewshot import FewShot, draw_few_shot, with_images
from tasks.generate import Generated, generate_labelled
from tasks.stats import mean_ci

ArmName = Literal[
    "real",
    "real+gen",
    "real+classic",
    "real+classic+gen",
    "real+gen-filtered",
    "real+classic+gen-pretrain",
    "synthetic-only",
]
ARMS: tuple[ArmName, ...] = get_args(ArmName)
GeneratorFit = Callable[[ImageSet, ImageSet, int], GenerativeModel]


@dataclass(frozen=True)
class AugmentConfig:
    ks: tuple[int | None, ...] = (10, 50)
    seeds: tuple[int, ...] = (0, 1, 2)
    multiplier: float = 1.0
    arms: tuple[str, ...] = ARMS
    filter_threshold: float = 0.9
    flips: bool = False
    # classic-augmented copies of each k-shot image added to the generator's training set (the
    # generator then learns the warps too); 0: it sees the k-shot images only
    generator_copies: int = 0
    # generated images per real training image in the pretraining set of
    # real+classic+gen-pretrain (many: a generator's samples cost nothing)
    pretrain_multiplier: float = 25.0
    classifier: ClassifierConfig = field(default_factory=ClassifierConfig)

    def __post_init__(self) -> None:
        unknown = sorted(set(self.arms) - set(ARMS))
        if unknown:
            raise ValueError(f"unknown arm(s) {', '.join(unknown)}; valid arms: {', '.join(ARMS)}")
        if self.multiplier <= 0:
            raise ValueError(f"multiplier must be > 0, got {self.multiplier}")
        if self.generator_copies < 0:
            raise ValueError(f"generator_copies must be >= 0, got {self.generator_copies}")
        if self.pretrain_multiplier <= 0:
            raise ValueError(f"pretrain_multiplier must be > 0, got {self.pretrain_multiplier}")


def _needs_generator(arms: tuple[str, ...]) -> bool:
    return any(a != "real" and a != "real+classic" for a in arms)


def _one_draw(
    pool: ImageSet,
    test: ImageSet,
    num_classes: int,
    fit_generator: GeneratorFit,
    config: AugmentConfig,
    k: int | None,
    seed: int,
    log: Callable[[str], None],
) -> list[dict[str, object]]:
    few: FewShot = draw_few_shot(pool, k, seed)
    clf = config.classifier
    rows: list[dict[str, object]] = []

    def record(arm: str, model: ClassifierModule, n_real: int, gen: Generated | None, t0: float):
        rows.append(
            {
                "k": "all" if k is None else k,
                "seed": seed,
                "arm": arm,
                "accuracy": accuracy(model, test),
                "n_real": n_real,
                "n_generated": 0 if gen is None else len(gen.labels),
                "kept_fraction": 1.0 if gen is None else gen.kept_fraction,
                "seconds": time.perf_counter() - t0,
            }
        )

    t0 = time.perf_counter()
    real_model = train_classifier(few.fit, few.val, num_classes, clf, seed)
    if "real" in config.arms:
        record("real", real_model, len(few.fit), None, t0)
    if "real+classic" in config.arms:
        t0 = time.perf_counter()
        classic = classic_augmentation(seed, config.flips)
        model = train_classifier(few.fit, few.val, num_classes, clf, seed, classic)
        record("real+classic", model, len(few.fit), None, t0)
    if not _needs_generator(config.arms):
        return rows

    t0 = time.perf_counter()
    gen_train = with_warped_copies(few.fit, config.generator_copies, seed + 1, config.flips)
    generative = fit_generator(gen_train, few.val, seed)
    fit_seconds = time.perf_counter() - t0
    per_class = max(1, round(config.multiplier * len(few.fit) / num_classes))

    def labeller(images: torch.Tensor) -> torch.Tensor:
        return predict_proba(real_model, images)

    g = torch.Generator().manual_seed(seed)
    generated = generate_labelled(generative, per_class, num_classes, g, labeller)
    log(
        f"k={k} seed={seed}: generator '{generative.name}' fit in {fit_seconds:.1f} s, "
        f"{len(generated.labels)} samples"
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
        g = torch.Generator().manual_seed(seed)
        kept = generate_labelled(
            generative, per_class, num_classes, g, labeller, config.filter_threshold
        )
        if len(kept.labels):
            filtered = with_images(few.fit, kept.images, kept.labels)
            model = train_classifier(filtered, few.val, num_classes, clf, seed)
        else:
            model = real_model  # nothing passed the filter: the arm is the real-only classifier
        record("real+gen-filtered", model, len(few.fit), kept, t0)
    if "real+classic+gen-pretrain" in config.arms:
        t0 = time.perf_counter()
        many = max(1, round(config.pretrain_multiplier * len(few.fit) / num_classes))
        g = torch.Generator().manual_seed(seed)
        pretrain_set = generate_labelled(generative, many, num_classes, g, labeller)
        synthetic = ImageSet(pretrain_set.images, pretrain_set.labels, levels=pool.levels)
        pretrained = train_classifier(
            synthetic, few.val, num_classes, clf, seed, classic_augmentation(seed, config.flips)
        )
        augment = classic_augmentation(seed, config.flips)
        model = train_classifier(few.fit, few.val, num_classes, clf, seed, augment, init=pretrained)
        record("real+classic+gen-pretrain", model, len(few.fit), pretrain_set, t0)
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
    config: AugmentConfig,
    log: Callable[[str], None] = print,
) -> pd.DataFrame:
    """One row per (k, seed, arm): test accuracy and what the arm trained on."""
    rows = []
    for k in config.ks:
        for seed in config.seeds:
            rows += _one_draw(pool, test, num_classes, fit_generator, config, k, seed, log)
    return pd.DataFrame(rows)


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

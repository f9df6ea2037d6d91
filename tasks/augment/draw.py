"""One k-shot draw of the augmentation experiment: its labelled images, every arm trained on
them, one row per arm (:func:`run_draw`). The arms are described in
:mod:`tasks.augment.experiment`."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from genmodels.contract import Capability, GenerativeModel
from genmodels.data.imageset import ImageSet
from tasks.augment.choice import choose_arm
from tasks.augment.spec import CLASS_SAMPLINGS, CV_ARM, AugmentSpec
from tasks.classifier import ClassifierModule, accuracy, predict_proba, train_classifier
from tasks.fewshot import FewShot, draw_few_shot, with_images
from tasks.generate import ClassSampler, Generated, Sampler, generate_labelled
from tasks.latent_sampling import class_interpolation_sampler, latent_mixture_sampler
from tasks.warps import classic_augmentation, with_warped_copies

GeneratorFit = Callable[[ImageSet, ImageSet, int], GenerativeModel]

_HOW = {
    "prior": "",
    "latent-mixture": " (decoded codes of a {n}-component mixture)",
    "class-interpolation": " (decoded between the codes of two labelled images of a class)",
    "class-detail": " (a labelled image moved towards another of its class, its detail kept)",
}


def draw_fingerprint(few: FewShot) -> str:
    """A short hash of the labelled images and labels a draw holds (fitting and validation):
    equal for two runs that drew the same sets, whatever their training did afterwards."""
    digest = hashlib.sha1()
    for part in (few.fit, few.val):
        assert part.labels is not None
        digest.update(part.images.numpy().tobytes())
        digest.update(part.labels.numpy().tobytes())
    return digest.hexdigest()[:12]


@dataclass
class _Draw:
    """A draw's labelled images, the classifier recipe, and the rows its arms record."""

    pool: ImageSet
    test: ImageSet
    num_classes: int
    config: AugmentSpec
    k: int | None
    seed: int
    few: FewShot
    rows: list[dict[str, object]] = field(default_factory=list)
    generator_seconds: float = 0.0  # the generator's fit, shared by every arm using its samples
    fingerprint: str = ""  # of the labelled images (draw_fingerprint), set on creation

    def __post_init__(self) -> None:
        self.fingerprint = draw_fingerprint(self.few)

    def record(
        self,
        arm: str,
        model: ClassifierModule,
        n_real: int,
        gen: Generated | None,
        t0: float,
        **extra: object,
    ) -> None:
        self.rows.append(
            {
                "k": "all" if self.k is None else self.k,
                "seed": self.seed,
                "draw": self.fingerprint,
                "arm": arm,
                "accuracy": accuracy(model, self.test),
                "n_real": n_real,
                "n_generated": 0 if gen is None else len(gen.labels),
                "kept_fraction": 1.0 if gen is None else gen.kept_fraction,
                "seconds": time.perf_counter() - t0,
                "generator_seconds": 0.0 if gen is None else self.generator_seconds,
                **extra,
            }
        )

    def train(
        self, fit: ImageSet, val: ImageSet, warps: bool, init: ClassifierModule | None = None
    ) -> ClassifierModule:
        """The recipe's classifier, with classic warps or without (from ``init``'s weights when
        given)."""
        augment = classic_augmentation(self.seed, self.config.flips) if warps else None
        clf = self.config.classifier
        return train_classifier(fit, val, self.num_classes, clf, self.seed, augment, init=init)

    def train_classic(
        self, fit: ImageSet, val: ImageSet, init: ClassifierModule | None = None
    ) -> ClassifierModule:
        return self.train(fit, val, True, init)

    def pretrain_then_fine_tune(self, pretrain: ImageSet) -> ClassifierModule:
        """Train on ``pretrain``, then fine-tune on the real k-shot images; warps in both."""
        first = self.train_classic(pretrain, self.few.val)
        return self.train_classic(self.few.fit, self.few.val, init=first)


@dataclass
class _Sampling:
    """How a draw's generator is sampled: its labeller (the k-shot classifier), its latent
    sampler, and class interpolation between labelled images where the spec asks for it."""

    draw: _Draw
    generative: GenerativeModel
    labeller_model: ClassifierModule
    sampler: Sampler | None
    own: ClassSampler | None = None  # between the draw's own labelled images, encoded once

    def __post_init__(self) -> None:
        self.own = self.between(self.draw.few.fit)

    def between(self, labelled: ImageSet) -> ClassSampler | None:
        """Class interpolation between the codes of ``labelled``'s images (None: not asked)."""
        sampling = self.draw.config.sampling
        if sampling not in CLASS_SAMPLINGS:
            return None
        assert labelled.labels is not None
        return class_interpolation_sampler(
            self.generative, labelled.images, labelled.labels,
            keep_detail=sampling == "class-detail",
        )  # fmt: skip

    def generate(
        self, per_class: int, threshold: float | None = None, fold: ImageSet | None = None
    ) -> Generated:
        """The generator's labelled samples; between ``fold``'s images where given (class
        interpolation), else between the draw's own."""
        class_sampler = self.own if fold is None else self.between(fold)
        return generate_labelled(
            self.generative, per_class, self.draw.num_classes,
            torch.Generator().manual_seed(self.draw.seed),
            lambda images: predict_proba(self.labeller_model, images), threshold,
            sampler=self.sampler, class_sampler=class_sampler,
        )  # fmt: skip


def run_draw(
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
    """Draw k labelled images per class (all with ``k`` None) with ``seed``, train every arm of
    ``config`` on them, and return one row per arm."""
    draw = _Draw(pool, test, num_classes, config, k, seed, draw_few_shot(pool, k, seed))
    real_model, classic_model = _real_arms(draw)
    if config.needs_generator:
        _generated_arms(draw, real_model, classic_model, fit_generator, log, shared_fit_seconds)
    return draw.rows


def _real_arms(draw: _Draw) -> tuple[ClassifierModule, ClassifierModule | None]:
    """The arms without a generator; returns the real-only classifier and, where an arm needs
    it, the classic-warps one."""
    few, arms = draw.few, draw.config.arms
    t0 = time.perf_counter()
    real_model = draw.train(few.fit, few.val, False)
    if "real" in arms:
        draw.record("real", real_model, len(few.fit), None, t0)
    classic_model: ClassifierModule | None = None
    if "real+classic" in arms or CV_ARM in arms:
        t0 = time.perf_counter()
        classic_model = draw.train_classic(few.fit, few.val)
        if "real+classic" in arms:
            draw.record("real+classic", classic_model, len(few.fit), None, t0)
    if "real+classic+pseudo-pretrain" in arms:
        t0 = time.perf_counter()
        many = max(1, round(draw.config.pretrain_multiplier * len(few.fit)))
        chosen = torch.randperm(len(draw.pool), generator=torch.Generator().manual_seed(draw.seed))
        images = draw.pool.images[chosen[:many]]
        labels = predict_proba(real_model, images).argmax(dim=1)
        model = draw.pretrain_then_fine_tune(ImageSet(images, labels, levels=draw.pool.levels))
        draw.record("real+classic+pseudo-pretrain", model, len(few.fit), None, t0)
    return real_model, classic_model


def _generated_arms(
    draw: _Draw,
    real_model: ClassifierModule,
    classic_model: ClassifierModule | None,
    fit_generator: GeneratorFit,
    log: Callable[[str], None],
    shared_fit_seconds: float,
) -> None:
    """Fit the draw's generator and train every arm that uses its samples."""
    config, few, seed, arms = draw.config, draw.few, draw.seed, draw.config.arms
    t0 = time.perf_counter()
    gen_train = with_warped_copies(few.fit, config.generator_copies, seed + 1, config.flips)
    generative = fit_generator(gen_train, few.val, seed)
    sampler = None
    if config.sampling == "latent-mixture":  # codes of the images the generator trained on
        seen = draw.pool.images if config.generator_data == "unlabelled-pool" else gen_train.images
        sampler = latent_mixture_sampler(generative, seen, config.latent_components, seed)
    draw.generator_seconds = time.perf_counter() - t0 + shared_fit_seconds
    sampling = _Sampling(draw, generative, real_model, sampler)
    per_class = max(1, round(config.multiplier * len(few.fit) / draw.num_classes))
    generated = sampling.generate(per_class)
    log(
        f"k={draw.k} seed={seed}: generator '{generative.name}' fit in "
        f"{draw.generator_seconds:.1f} s, {len(generated.labels)} samples"
        + _HOW[config.sampling].format(n=config.latent_components)
    )
    mixed = with_images(few.fit, generated.images, generated.labels)
    for arm in ("real+gen", "real+classic+gen"):
        if arm in arms:
            t0 = time.perf_counter()
            model = draw.train(mixed, few.val, "classic" in arm)
            draw.record(arm, model, len(few.fit), generated, t0)
    if "real+gen-filtered" in arms:
        t0 = time.perf_counter()
        kept = sampling.generate(per_class, config.filter_threshold)
        if len(kept.labels):
            model = draw.train(with_images(few.fit, kept.images, kept.labels), few.val, False)
        else:
            model = real_model  # nothing passed the filter: the arm is the real-only classifier
        draw.record("real+gen-filtered", model, len(few.fit), kept, t0)
    if "real+classic+gen-pretrain" in arms or CV_ARM in arms:
        t0 = time.perf_counter()
        many = max(1, round(config.pretrain_multiplier * len(few.fit) / draw.num_classes))
        pretrain_set = sampling.generate(many)
        pretrain_model = draw.pretrain_then_fine_tune(
            ImageSet(pretrain_set.images, pretrain_set.labels, levels=draw.pool.levels)
        )
        if "real+classic+gen-pretrain" in arms:
            draw.record("real+classic+gen-pretrain", pretrain_model, len(few.fit), pretrain_set, t0)
        if CV_ARM in arms:
            assert classic_model is not None
            _cv_arm(draw, sampling, many, pretrain_set, pretrain_model, classic_model, log)
    if "synthetic-only" in arms:
        t0 = time.perf_counter()
        synthetic = ImageSet(generated.images, generated.labels, levels=draw.pool.levels)
        model = draw.train(synthetic, few.val, False)
        draw.record("synthetic-only", model, 0, generated, t0)


def _cv_arm(
    draw: _Draw,
    sampling: _Sampling,
    many: int,
    pretrain_set: Generated,
    pretrain_model: ClassifierModule,
    classic_model: ClassifierModule,
    log: Callable[[str], None],
) -> None:
    """The cross-validated arm: the pretrain arm where cross-validation inside the k labelled
    images scores it strictly above classic warps, classic warps otherwise."""
    t0 = time.perf_counter()
    few, config = draw.few, draw.config
    assert few.val.labels is not None
    relabel = not sampling.generative.supports(Capability.CONDITIONAL)

    def pretrain_from(fit: ImageSet, val: ImageSet) -> ClassifierModule:
        """The pretrain arm rebuilt from one fold's images alone: the same generated images,
        named by a classifier of ``fit`` (an unconditional generator's labels would otherwise
        come from a classifier that saw the held fold), or drawn between the codes of ``fit``'s
        images (class interpolation), pretrained on, then fine-tuned."""
        images, labels = pretrain_set.images, pretrain_set.labels
        if config.sampling in CLASS_SAMPLINGS:
            drawn = sampling.generate(many, fold=fit)
            images, labels = drawn.images, drawn.labels
        elif relabel:
            fold_labeller = draw.train(fit, val, False)
            labels = predict_proba(fold_labeller, pretrain_set.images).argmax(dim=1)
        first = draw.train_classic(ImageSet(images, labels, levels=draw.pool.levels), val)
        return draw.train_classic(fit, val, init=first)

    choice = choose_arm(
        with_images(few.fit, few.val.images, few.val.labels),
        {"real+classic": draw.train_classic, "real+classic+gen-pretrain": pretrain_from},
        config.cv_folds,
        draw.seed,
    )
    use_generated = choice.chosen == "real+classic+gen-pretrain"
    log(
        f"k={draw.k} seed={draw.seed}: {config.cv_folds}-fold cross-validation inside the k "
        f"labelled images: real+classic {choice.cv_accuracy['real+classic']:.3f}, pretrain "
        f"{choice.cv_accuracy['real+classic+gen-pretrain']:.3f} -> {choice.chosen}"
    )
    draw.record(
        CV_ARM,
        pretrain_model if use_generated else classic_model,
        len(few.fit),
        pretrain_set if use_generated else None,
        t0,
        chosen=choice.chosen,
        cv_accuracy_classic=choice.cv_accuracy["real+classic"],
        cv_accuracy_pretrain=choice.cv_accuracy["real+classic+gen-pretrain"],
    )

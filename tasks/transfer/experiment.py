"""Knowledge transfer through generated images: a deep teacher labels what a generator draws, a
kernel-machine student learns from those labels next to a small real labelled set.

Per seed: draw ``k_real`` labelled real images per class (the student's only real data); draw a
pool of generated candidates and have the teacher label them (probabilities); fit each student on
the real images alone (``n = 0``) and on the real images plus ``n`` generated ones, for every ``n``
in the grid, with the generated images taken in random order or *focused* on the class pairs the
real-only student confuses most (found on a separate generated probe set labelled by the teacher,
never on test images). Test labels are used for nothing but scoring.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from torch import Tensor

from genmodels.data.imageset import ImageSet, labelled_classes
from tasks.classifier import accuracy, predict_proba, train_classifier
from tasks.fewshot import draw_few_shot
from tasks.generate import sample_images
from tasks.inputs import TaskInputs
from tasks.plots import ci_curves
from tasks.result import TaskResult
from tasks.stats import mean_ci
from tasks.transfer.spec import TransferSpec
from tasks.transfer.students import make_student

Teacher = Callable[[Tensor], Tensor]  # images -> class probabilities (N, K)
Sampler = Callable[[int, torch.Generator], Tensor]  # (n, generator) -> images (n, C, H, W)
MODES = ("random", "focused")


def _flat(images: Tensor) -> np.ndarray:
    return images.flatten(1).double().numpy()


def confused_pairs(student: np.ndarray, teacher: np.ndarray, top: int) -> list[tuple[int, int]]:
    """The ``top`` unordered class pairs on which student and teacher disagree most often."""
    counts: dict[tuple[int, int], int] = {}
    for s, t in zip(student.tolist(), teacher.tolist(), strict=True):
        if s != t:
            pair = (min(s, t), max(s, t))
            counts[pair] = counts.get(pair, 0) + 1
    return [p for p, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:top]]


def focused_order(
    soft: Tensor, pairs: list[tuple[int, int]], n: int, share: float, rng: np.random.Generator
) -> np.ndarray:
    """``n`` candidate indices: ``share`` of them where the teacher's two most likely classes form
    a confused pair (closest calls first), the rest in random order."""
    top2 = soft.topk(2, dim=1)
    pair_of = [(min(a, b), max(a, b)) for a, b in top2.indices.tolist()]
    margin = (top2.values[:, 0] - top2.values[:, 1]).numpy()
    hits = np.asarray([i for i, p in enumerate(pair_of) if p in set(pairs)], dtype=int)
    hits = hits[np.argsort(margin[hits], kind="stable")][: round(n * share)]
    rest = np.setdiff1d(rng.permutation(len(soft)), hits, assume_unique=False)
    rest = rng.permutation(rest)[: n - len(hits)]
    return np.concatenate([hits, rest]).astype(int)


def _pair_errors(pred: np.ndarray, labels: np.ndarray, pair: tuple[int, int] | None) -> int:
    if pair is None:
        return 0
    a, b = pair
    return int((((labels == a) & (pred == b)) | ((labels == b) & (pred == a))).sum())


def run_transfer(
    pool: ImageSet,
    test_images: Tensor,
    test_labels: Tensor,
    num_classes: int,
    teacher: Teacher,
    sample: Sampler,
    config: TransferSpec,
    log: Callable[[str], None] = print,
) -> pd.DataFrame:
    """One row per (seed, student, mode, n): accuracy on the test images, agreement with the
    teacher there, the share of the teacher-student gap closed, errors on the top confused pair."""
    teacher_test = teacher(test_images).argmax(1).numpy()
    labels = test_labels.numpy()
    teacher_acc = float((teacher_test == labels).mean())
    x_test = _flat(test_images)
    rows = []
    for seed in config.seeds:
        shot = draw_few_shot(pool, config.k_real + 1, seed, val_fraction=1 / (config.k_real + 1))
        real_images = torch.cat([shot.fit.images, shot.val.images])
        assert shot.fit.labels is not None and shot.val.labels is not None
        real_labels = torch.cat([shot.fit.labels, shot.val.labels])
        x_real = _flat(real_images)
        soft_real = F.one_hot(real_labels, num_classes).double().numpy()
        generator = torch.Generator().manual_seed(seed)
        n_cand = int(max(config.ns) * config.candidates) if max(config.ns) else 0
        candidates = sample(n_cand, generator) if n_cand else real_images[:0]
        soft_cand = teacher(candidates) if n_cand else torch.zeros(0, num_classes)
        probe = sample(config.probe, generator)
        teacher_probe = teacher(probe).argmax(1).numpy()
        rng = np.random.default_rng(seed)
        random_order = rng.permutation(n_cand)
        for name in config.students:
            base = make_student(name, seed).fit(x_real, soft_real)
            base_acc = float((base.predict(x_test) == labels).mean())
            pairs = confused_pairs(base.predict(_flat(probe)), teacher_probe, config.focus_pairs)
            top_pair = pairs[0] if pairs else None
            for mode in MODES if config.focus else MODES[:1]:
                for n in config.ns:
                    if n == 0:
                        student = base
                    else:
                        idx = (
                            random_order[:n]
                            if mode == "random"
                            else focused_order(soft_cand, pairs, n, config.focus_share, rng)
                        )
                        x = np.concatenate([x_real, _flat(candidates[idx])])
                        soft = np.concatenate([soft_real, soft_cand[idx].double().numpy()])
                        student = make_student(name, seed).fit(x, soft)
                    pred = student.predict(x_test)
                    acc = float((pred == labels).mean())
                    gap = teacher_acc - base_acc
                    rows.append(
                        {
                            "seed": seed,
                            "student": name,
                            "mode": mode,
                            "n": n,
                            "accuracy": acc,
                            "agreement": float((pred == teacher_test).mean()),
                            "teacher_accuracy": teacher_acc,
                            "gap_closed": (acc - base_acc) / gap if gap > 0 else float("nan"),
                            "pair": f"{top_pair[0]}-{top_pair[1]}" if top_pair else "",
                            "pair_errors": _pair_errors(pred, labels, top_pair),
                        }
                    )
            log(f"seed {seed} {name}: real-only {base_acc:.3f}, teacher {teacher_acc:.3f}")
    return pd.DataFrame(rows)


def summarize(rows: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """Per (student, mode, n): accuracy, agreement, gap closed; mean, t-interval over seeds."""
    out = []
    for (student, mode, n), group in rows.groupby(["student", "mode", "n"], sort=False):
        acc = mean_ci(group["accuracy"], confidence)
        gap = group["gap_closed"].dropna()
        row = {
            "student": student,
            "mode": mode,
            "n": n,
            "seeds": len(group),
            "accuracy": acc["mean"],
            "ci_low": acc["ci_low"],
            "ci_high": acc["ci_high"],
            "agreement": float(group["agreement"].mean()),
            "teacher": float(group["teacher_accuracy"].mean()),
            "gap_closed": mean_ci(gap, confidence)["mean"] if len(gap) else float("nan"),
            "pair_errors": float(group["pair_errors"].mean()),
        }
        out.append(row)
    return pd.DataFrame(out)


def curves_figure(summary: pd.DataFrame, teacher: float) -> Figure:
    groups = {
        f"{student} ({mode})": (
            list(g["n"]),
            list(g["accuracy"]),
            list(g["ci_low"]),
            list(g["ci_high"]),
        )
        for (student, mode), g in summary.groupby(["student", "mode"], sort=False)
    }
    return ci_curves(
        groups,
        "teacher-labelled generated images added",
        "student test accuracy (mean, 95% CI over seeds)",
        reference=("teacher", teacher),
    )


def pair_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Errors on each seed's most confused pair (true a -> b or b -> a), before and after."""
    n_max = rows["n"].max()
    keep = rows[rows["n"].isin([0, n_max])]
    return keep[["seed", "student", "mode", "n", "pair", "pair_errors"]].reset_index(drop=True)


def run(inputs: TaskInputs[TransferSpec]) -> TaskResult:
    """The task's entry point: a teacher CNN and the generator train on the train split (val
    picks their epochs); kernel students learn from a few real images plus teacher-labelled
    generated ones and are measured on the test split.

    Records ``teacher_accuracy``, ``acc.<student>.<mode>.n<N>`` and
    ``gap_closed.<student>.<mode>.n<N>`` (means over seeds); the per-seed rows, the summary and
    the top confused pair's test errors as tables; student accuracy against n as a figure.
    """
    spec, log = inputs.spec, inputs.log
    train, val, test = inputs.data["train"], inputs.data["val"], inputs.data["test"]
    num_classes = labelled_classes({"train": train, "val": val, "test": test}, "transfer")
    assert test.labels is not None
    result = TaskResult(
        params={"n_train": len(train), "n_test": len(test), "num_classes": num_classes}
    )
    log(f"data: {inputs.data_name}: train {len(train)}, val {len(val)}, test {len(test)}")
    t0 = time.perf_counter()
    teacher = train_classifier(train, val, num_classes, spec.teacher, inputs.seed)
    teacher_acc = accuracy(teacher, test)
    result.metrics.update(teacher_accuracy=teacher_acc, teacher_seconds=time.perf_counter() - t0)
    log(f"teacher: test accuracy {teacher_acc:.3f} ({time.perf_counter() - t0:.1f} s)")
    generator = inputs.models.build(train.image_shape, train.levels, inputs.seed, num_classes)
    t0 = time.perf_counter()
    fit = inputs.models.fit(generator, train, val)
    log(f"generator {generator.name}: {time.perf_counter() - t0:.1f} s ({fit.epochs} epochs)")

    def sample(n: int, rng: torch.Generator) -> Tensor:
        return sample_images(generator, n, num_classes, rng)

    rows = run_transfer(
        train,
        test.images,
        test.labels,
        num_classes,
        lambda images: predict_proba(teacher, images),
        sample,
        spec,
        log,
    )
    summary = summarize(rows)
    for _, r in summary.iterrows():
        key = f"{r['student']}.{r['mode']}.n{r['n']}"
        result.metrics[f"acc.{key}"] = float(r["accuracy"])
        if pd.notna(r["gap_closed"]):
            result.metrics[f"gap_closed.{key}"] = float(r["gap_closed"])
    result.tables.update(rows=rows, results=summary, confused_pair=pair_table(rows))
    result.figure("accuracy_vs_n", curves_figure(summary, teacher_acc))
    result.table = summary
    return result

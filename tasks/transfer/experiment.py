"""Knowledge transfer through generated images: a deep teacher labels what a generator draws, a
kernel-machine student learns from those labels next to a small real labelled set.

Per seed: draw ``k_real`` labelled real images per class (the student's only real data); for each
source (the generator's samples, and the baselines: warps and mixup of the k real images,
``sources.py``) draw a pool of candidates and have the teacher label them (probabilities); fit
each student on the real images alone (``n = 0``) and on the real images plus ``n`` candidates,
for every ``n`` in the grid, taken in random order or *focused* on the class pairs the real-only
student confuses most (found on a separate generated probe set labelled by the teacher, never on
test images). Each pool is also diagnosed (``sources.diagnose``). Test labels are used for
nothing but scoring.
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
from tasks.classifier import accuracy, features, predict_proba, train_classifier
from tasks.fewshot import draw_few_shot
from tasks.generate import sample_images
from tasks.inputs import TaskInputs
from tasks.latent_sampling import Mover, latent_mixture_sampler, latent_moves
from tasks.plots import ci_curves
from tasks.result import TaskResult
from tasks.stats import interval_text, mean_ci
from tasks.transfer.choice import chosen_summary, validation_picks
from tasks.transfer.sources import diagnose, mixed_pairs, pool_draws, warped_copies
from tasks.transfer.spec import TransferSpec
from tasks.transfer.students import Student, make_student

Teacher = Callable[[Tensor], Tensor]  # images -> class probabilities (N, K)
Sampler = Callable[[int, torch.Generator], Tensor]  # (n, generator) -> images (n, C, H, W)
Embedding = Callable[[Tensor], np.ndarray]  # images -> the teacher's features (N, F)
MODES = ("random", "focused", "uncertain")


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


def uncertain_order(soft: Tensor, n: int, share: float, rng: np.random.Generator) -> np.ndarray:
    """``n`` candidate indices: ``share`` of them those the teacher is least sure of (highest
    entropy of its soft labels: near its decision boundaries), the rest in random order."""
    p = soft.double().clamp_min(1e-12)
    entropy = -(p * p.log()).sum(1).numpy()
    hits = np.argsort(-entropy, kind="stable")[: round(n * share)]
    rest = rng.permutation(np.setdiff1d(np.arange(len(soft)), hits))[: n - len(hits)]
    return np.concatenate([hits, rest]).astype(int)


def class_balanced(order: np.ndarray, soft: Tensor) -> np.ndarray:
    """``order`` rearranged so that every prefix holds the teacher's classes as evenly as the
    candidates allow: round-robin over the classes, each class's candidates in their order in
    ``order`` (a class that runs out leaves the rest to the others)."""
    labels = soft.argmax(1).numpy()[order]
    rank = np.zeros(len(order), dtype=int)
    for c in np.unique(labels):
        members = labels == c
        rank[members] = np.arange(int(members.sum()))
    return order[np.lexsort((labels, rank))]


def _order(
    mode: str, soft: Tensor, pairs: list[tuple[int, int]], n: int, config: TransferSpec,
    random_order: np.ndarray, rng: np.random.Generator,
) -> np.ndarray:  # fmt: skip
    if mode == "random":
        return (class_balanced(random_order, soft) if config.balance else random_order)[:n]
    if mode == "focused":
        return focused_order(soft, pairs, n, config.focus_share, rng)
    return uncertain_order(soft, n, config.focus_share, rng)


def _val_accuracy(
    student: Student, x_val: np.ndarray | None, val_labels: np.ndarray | None
) -> float:
    if x_val is None or val_labels is None:
        return float("nan")
    return float((student.predict(x_val) == val_labels).mean())


def _closed(acc: float, base: float, teacher: float) -> float:
    """The share of the teacher-student gap closed; NaN where there is no gap."""
    return (acc - base) / (teacher - base) if teacher > base else float("nan")


def _pair_errors(pred: np.ndarray, labels: np.ndarray, pair: tuple[int, int] | None) -> int:
    if pair is None:
        return 0
    a, b = pair
    return int((((labels == a) & (pred == b)) | ((labels == b) & (pred == a))).sum())


def _candidates(
    source: str, n: int, real: Tensor, pool: Tensor, sample: Sampler, generator: torch.Generator,
    seed: int, move: Mover | None = None,
) -> Tensor:  # fmt: skip
    if n == 0:
        return real[:0]
    if source == "generator":
        return sample(n, generator)
    if source == "moves":
        if move is None:
            raise ValueError("source 'moves' needs a generator with an encoder and a decoder")
        return move(real, n, generator)
    if source == "warps":
        return warped_copies(real, n, seed)
    if source == "pool":
        return pool_draws(pool, n, seed)
    if source == "generator-and-warps":
        both = torch.cat([sample(n - n // 2, generator), warped_copies(real, n // 2, seed)])
        return both[torch.randperm(n, generator=torch.Generator().manual_seed(seed))]
    return mixed_pairs(real, n, seed)


def run_transfer(
    pool: ImageSet,
    test_images: Tensor,
    test_labels: Tensor,
    num_classes: int,
    teacher: Teacher,
    sample: Sampler,
    config: TransferSpec,
    log: Callable[[str], None] = print,
    embed: Embedding | None = None,
    val: ImageSet | None = None,
    move: Mover | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows ``(seed, student, source, mode, n)``: accuracy on the test images, agreement with the
    teacher there, the share of the teacher-student gap closed, errors on the top confused pair
    (and, given labelled ``val`` images, accuracy and gap closed there: what choices are made
    on); and rows ``(seed, source)`` diagnosing each candidate pool (with the teacher's features
    ``embed``, its k-NN precision and recall against the real ``pool``). ``move`` makes the
    ``moves`` source's images from each seed's real ones (needed only for that source)."""
    teacher_test = teacher(test_images).argmax(1).numpy()
    labels = test_labels.numpy()
    teacher_acc = float((teacher_test == labels).mean())
    x_test = _flat(test_images)
    x_val, val_labels, teacher_val = None, None, float("nan")
    if val is not None and val.labels is not None and len(val):
        x_val, val_labels = _flat(val.images), val.labels.numpy()
        teacher_val = float((teacher(val.images).argmax(1).numpy() == val_labels).mean())
    cap = config.fidelity_images
    real_features = None
    if embed is not None:
        order = torch.randperm(len(pool), generator=torch.Generator().manual_seed(0))
        real_features = embed(pool.images[order[:cap]])
    rows, diagnosis = [], []
    for seed in config.seeds:
        shot = draw_few_shot(pool, config.k_real + 1, seed, val_fraction=1 / (config.k_real + 1))
        real_images = torch.cat([shot.fit.images, shot.val.images])
        assert shot.fit.labels is not None and shot.val.labels is not None
        real_labels = torch.cat([shot.fit.labels, shot.val.labels])
        x_real = _flat(real_images)
        soft_real = F.one_hot(real_labels, num_classes).double().numpy()
        generator = torch.Generator().manual_seed(seed)
        n_cand = int(max(config.ns) * config.candidates) if max(config.ns) else 0
        pools = {}
        for source in config.sources:
            candidates = _candidates(
                source, n_cand, real_images, pool.images, sample, generator, seed, move
            )
            said = teacher(candidates) if n_cand else torch.zeros(0, num_classes)
            pools[source] = (candidates, said)
            if len(candidates) > 5:
                features = None if embed is None else embed(candidates[:cap])
                diagnosis.append(
                    {"seed": seed, "source": source} | diagnose(said, features, real_features)
                )
        probe = sample(config.probe, generator)
        teacher_probe = teacher(probe).argmax(1).numpy()
        rng = np.random.default_rng(seed)
        random_order = rng.permutation(n_cand)
        for name in config.students:
            t0 = time.perf_counter()
            base = make_student(name, seed).fit(x_real, soft_real)
            base_seconds = time.perf_counter() - t0
            base_acc = float((base.predict(x_test) == labels).mean())
            base_val = _val_accuracy(base, x_val, val_labels)
            pairs = confused_pairs(base.predict(_flat(probe)), teacher_probe, config.focus_pairs)
            top_pair = pairs[0] if pairs else None
            for source, (candidates, soft_cand) in pools.items():
                modes = ["random"] + ["focused"] * config.focus + ["uncertain"] * config.uncertain
                for mode in modes:
                    for n in config.ns:
                        t0 = time.perf_counter()
                        if n == 0:
                            student = base
                        else:
                            idx = _order(mode, soft_cand, pairs, n, config, random_order, rng)
                            x = np.concatenate([x_real, _flat(candidates[idx])])
                            soft = np.concatenate([soft_real, soft_cand[idx].double().numpy()])
                            student = make_student(name, seed).fit(x, soft)
                        pred = student.predict(x_test)
                        seconds = time.perf_counter() - t0 + (base_seconds if n == 0 else 0.0)
                        acc = float((pred == labels).mean())
                        val_acc = _val_accuracy(student, x_val, val_labels)
                        rows.append(
                            {
                                "seed": seed,
                                "student": name,
                                "source": source,
                                "mode": mode,
                                "n": n,
                                "accuracy": acc,
                                "agreement": float((pred == teacher_test).mean()),
                                "teacher_accuracy": teacher_acc,
                                "gap_closed": _closed(acc, base_acc, teacher_acc),
                                "pair": f"{top_pair[0]}-{top_pair[1]}" if top_pair else "",
                                "pair_errors": _pair_errors(pred, labels, top_pair),
                                "seconds": seconds,  # the student's fit and test predictions
                                "val_accuracy": val_acc,
                                "teacher_val_accuracy": teacher_val,
                                "val_gap_closed": _closed(val_acc, base_val, teacher_val),
                            }
                        )
            log(f"seed {seed} {name}: real-only {base_acc:.3f}, teacher {teacher_acc:.3f}")
    return pd.DataFrame(rows), pd.DataFrame(diagnosis)


def diagnosis_summary(diagnosis: pd.DataFrame) -> pd.DataFrame:
    """Per source, the mean over seeds of every diagnostic."""
    if diagnosis.empty:
        return diagnosis
    return diagnosis.drop(columns="seed").groupby("source", sort=False).mean().reset_index()


def summarize(rows: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """Per (student, source, mode, n): accuracy, agreement, gap closed; mean, t-interval over
    seeds."""
    out = []
    keys = ["student", "source", "mode", "n"]
    for (student, source, mode, n), group in rows.groupby(keys, sort=False):
        acc = mean_ci(group["accuracy"], confidence)
        gap = group["gap_closed"].dropna()
        row = {
            "student": student,
            "source": source,
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
            "seconds": float(group["seconds"].mean()) if "seconds" in group else float("nan"),
        }
        if "val_accuracy" in group:  # what choices are made on (the test columns only report)
            row["val_accuracy"] = float(group["val_accuracy"].mean())
            row["val_gap_closed"] = float(group["val_gap_closed"].mean())
        out.append(row)
    return pd.DataFrame(out)


def paired_gains(rows: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """The generator's accuracy minus each baseline source's, paired by seed, per (student,
    baseline, mode, n > 0): mean and t-interval over seeds. Empty without the generator or a
    baseline source."""
    sources = set(rows["source"])
    if "generator" not in sources or len(sources) < 2:
        return pd.DataFrame()
    keys = ["seed", "student", "mode", "n"]
    generated = rows[(rows["source"] == "generator") & (rows["n"] > 0)].set_index(keys)
    ours = generated["accuracy"]
    out = []
    for baseline in [s for s in dict.fromkeys(rows["source"]) if s != "generator"]:
        theirs = rows[rows["source"] == baseline].set_index(keys)
        gain = (ours - theirs["accuracy"].reindex(ours.index)).rename("gain").to_frame()
        if "val_accuracy" in rows:
            gain["val_gain"] = generated["val_accuracy"] - theirs["val_accuracy"].reindex(
                ours.index
            )
        gain = gain.reset_index()
        for (student, mode, n), group in gain.groupby(["student", "mode", "n"], sort=False):
            ci = mean_ci(group["gain"], confidence)
            entry = {"student": student, "baseline": baseline, "mode": mode, "n": n,
                     "seeds": len(group), "gain": ci["mean"], "ci_low": ci["ci_low"],
                     "ci_high": ci["ci_high"]}  # fmt: skip
            if "val_gain" in group:
                entry["val_gain"] = float(group["val_gain"].mean())
            out.append(entry)
    return pd.DataFrame(out)


def curves_figure(summary: pd.DataFrame, teacher: float) -> Figure:
    groups = {
        f"{student} ({source}, {mode})": (
            list(g["n"]),
            list(g["accuracy"]),
            list(g["ci_low"]),
            list(g["ci_high"]),
        )
        for (student, source, mode), g in summary.groupby(["student", "source", "mode"], sort=False)
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
    columns = ["seed", "student", "source", "mode", "n", "pair", "pair_errors"]
    return keep[columns].reset_index(drop=True)


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
    generator = inputs.models.build(train.image_shape, train.levels, inputs.seed, num_classes)
    t0 = time.perf_counter()
    teacher = train_classifier(train, val, num_classes, spec.teacher, inputs.seed)
    teacher_acc = accuracy(teacher, test)
    result.metrics.update(teacher_accuracy=teacher_acc, teacher_seconds=time.perf_counter() - t0)
    log(f"teacher: test accuracy {teacher_acc:.3f} ({time.perf_counter() - t0:.1f} s)")
    t0 = time.perf_counter()
    fit = inputs.models.fit(generator, train, val)
    result.metrics["generator_seconds"] = time.perf_counter() - t0
    log(f"generator {generator.name}: {time.perf_counter() - t0:.1f} s ({fit.epochs} epochs)")

    def prior_draws(n: int, rng: torch.Generator) -> Tensor:
        return sample_images(generator, n, num_classes, rng)

    sample: Sampler = prior_draws
    if spec.sampling == "latent-mixture":
        sample = latent_mixture_sampler(
            generator, train.images, spec.latent_components, inputs.seed
        )
        log(f"sampling: decoded codes from a {spec.latent_components}-component code mixture")
    move = latent_moves(generator, sample) if "moves" in spec.sources else None

    rows, diagnosis = run_transfer(
        train,
        test.images,
        test.labels,
        num_classes,
        lambda images: predict_proba(teacher, images),
        sample,
        spec,
        log,
        embed=lambda images: features(teacher, images),
        val=val,
        move=move,
    )
    summary = summarize(rows)
    for _, r in summary.iterrows():
        source = "" if r["source"] == "generator" else f"{r['source']}."
        key = f"{r['student']}.{source}{r['mode']}.n{r['n']}"
        result.metrics[f"acc.{key}"] = float(r["accuracy"])
        if pd.notna(r["gap_closed"]):
            result.metrics[f"gap_closed.{key}"] = float(r["gap_closed"])
    sources = diagnosis_summary(diagnosis)
    for _, r in sources.iterrows():
        log(
            f"source {r['source']}: teacher confidence {r['confidence']:.3f}, label entropy "
            f"{r['entropy']:.3f} bits, class balance {r['class_balance']:.3f}"
            + (
                f", k-NN precision {r['precision']:.3f}, recall {r['recall']:.3f}"
                if "precision" in r
                else ""
            )
        )
    for _, r in sources.iterrows():
        for column in sources.columns.drop("source"):
            result.metrics[f"source.{r['source']}.{column}"] = float(r[column])
    gains = paired_gains(rows)
    for _, r in gains.iterrows():
        key = f"{r['student']}.{r['mode']}.n{r['n']}"
        result.metrics[f"gain_over_{r['baseline']}.{key}"] = float(r["gain"])
    chosen = chosen_summary(validation_picks(rows))
    for _, r in chosen.iterrows():
        key = f"{r['student']}.{r['mode']}"
        result.metrics[f"chosen.acc.{key}"] = float(r["accuracy"])
        line = f"validation chooses {r['chosen']} (seeds) for {key}: test {r['accuracy']:.3f}"
        if "gain_over_warps" in r and pd.notna(r["gain_over_warps"]):
            result.metrics[f"chosen.gain_over_warps.{key}"] = float(r["gain_over_warps"])
            gain = interval_text(r["gain_over_warps"], r["gain_ci_low"], r["gain_ci_high"])
            line += f", over the warps {gain}"
        log(line)
    result.tables.update(
        rows=rows, results=summary, confused_pair=pair_table(rows), sources=sources, gains=gains,
        chosen=chosen,
    )  # fmt: skip
    result.figure("accuracy_vs_n", curves_figure(summary, teacher_acc))
    result.table = summary
    return result

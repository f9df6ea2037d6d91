"""Transfer benchmark: the ``transfer`` recipe on several data sets, with several generators.

    .venv/bin/python benchmarks/transfer_bench.py
        [--datasets usps pneumoniamnist retinamnist cifar10] [--generators gmm vae vae-latent]
        [--seeds 0 1 2] [--ns 0 4000] [--students kernel-ridge svc] [--max-images 6000]
        [--out transfer-bench] [--set key=value ...] [--update-results] [--tables-only]

For each data set and generator, one pipeline run of the bundled ``transfer`` spec (tracked in
MLflow, experiment ``transfer-bench``; a generator already trained on the same data is reused,
so ``vae-latent`` samples the model ``vae`` trained). Only the data, the generator and the
settings below change, and they are the same for every data set: ``k_real`` 20 per class, every
split capped at ``--max-images`` (a seeded, stratified draw), CIFAR-10 made gray (BT.601 luma),
the random-order arm only, and besides the generator four sources labelled by the same teacher:
warps and mixup of the k real images (the baselines), half generated and half warps (does the
generator add to the warps?), the k real images moved towards the generator's draws (``moves``,
latent generators only), and the training images themselves (``pool``: the ceiling a
generator that reproduced its training images would reach).

Every student is scored on the validation split as well as on the test split. What the recipe
ships is chosen on the validation columns; the test columns only report.

Saved under ``benchmarks/results/<out>*`` (CSV and Markdown, with the command): every row, the
diagnosis of every source and the time of each run; per data set, generator and student at the
largest n, the test table and the validation table (teacher, real-only and per-source accuracy,
the share of the teacher-student gap the warps and the mixed source close, the paired gains over
the warps, with 95% t-intervals over seeds on test); the choice table (validation gap closed of
each generative arm, averaged over the data sets) and the diagnosis table (the teacher's
confidence and entropy, k-NN precision and recall in its features). ``--update-results`` also
puts them into ``benchmarks/results/transfer.md``; ``--tables-only`` rewrites them from the rows
a run saved.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd
from mlflow.tracking import MlflowClient

if __package__ in (None, ""):  # run as a script: this repository's benchmarks, not a namesake
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.anomaly_tables import update_results
from benchmarks.bench_data import DATASETS, data_overrides
from benchmarks.speed.common import save_table
from pipelines.cli import quiet_libraries
from pipelines.runner import run_pipeline
from pipelines.spec.loading import load_spec
from tasks.stats import interval_text, mean_ci
from tasks.transfer.choice import chosen_summary, validation_picks

RESULTS = Path(__file__).parent / "results"
#: generator -> its ``model`` section (every other setting is the spec's)
GENERATORS: dict[str, list[str]] = {
    "gmm": ["model.name=gmm", "model.params={n_components: 20}"],
    "vae": ["model.name=vae", "model.params={}"],
    "vae-latent": ["model.name=vae", "model.params={}", "task.sampling=latent-mixture"],
    "vae-cond": ["model.name=vae-cond", "model.params={}"],
    "wgan-gp": ["model.name=dcgan-cond", "model.params={loss: wgan-gp}"],
}
#: what each generator saw of the training split (the protocol column)
SAW = {
    "gmm": "train split, unlabelled",
    "vae": "train split, unlabelled",
    "vae-latent": "train split, unlabelled",
    "vae-cond": "train split, labelled",
    "wgan-gp": "train split, labelled",
}
SOURCES = ("generator", "warps", "mixup", "generator-and-warps", "moves", "pool")
#: the generators with an encoder and a decoder: only they run the ``moves`` source
LATENT = ("vae", "vae-latent")
#: what a run saves and ``--tables-only`` reads back
TABLES = ("rows", "sources", "times")
#: the tables' column names for the sources
SHORT = {
    "generator": "gen",
    "warps": "warps",
    "mixup": "mixup",
    "generator-and-warps": "gen+warps",
    "moves": "moves",
    "pool": "pool (ceiling)",
}


def _sources(generator: str) -> list[str]:
    """The sources a run of ``generator`` compares: all of them, ``moves`` for latent models."""
    return [s for s in SOURCES if s != "moves" or generator in LATENT]


def _interval(values: pd.Series) -> str:
    ci = mean_ci(values.dropna(), 0.95)
    return interval_text(ci["mean"], ci["ci_low"], ci["ci_high"])


def _columns(split: str) -> tuple[str, str]:
    """The student's and the teacher's accuracy columns of the rows for ``test`` or ``val``."""
    if split == "test":
        return "accuracy", "teacher_accuracy"
    return "val_accuracy", "teacher_val_accuracy"


def gap_closed(group: pd.DataFrame, split: str = "test") -> pd.Series:
    """Per source at the group's largest n: ``(acc_n - acc_0) / (teacher - acc_0)`` from the
    accuracies' means over seeds (a ratio of means: stable where one seed's gap is tiny)."""
    column, teacher = _columns(split)
    real = group[group["n"] == 0][column].mean()
    top = group[group["n"] == group["n"].max()]
    gap = top[teacher].mean() - real
    return (top.groupby("source")[column].mean() - real) / gap


def cross_table(rows: pd.DataFrame, split: str = "test") -> pd.DataFrame:
    """Per data set, generator and student, at the largest n, random order, on the test split
    (what is reported) or the validation split (what is chosen on): mean accuracy of the teacher,
    the real-only student and the student with each source, the share of the gap the mixed
    source and the warps close, and the paired gains over the warps (95% t-interval over seeds
    on test; the mean on validation)."""
    column, teacher = _columns(split)
    out = []
    keys = ["dataset", "generator", "student"]
    for (dataset, generator, student), group in rows[rows["mode"] == "random"].groupby(
        keys, sort=False
    ):
        top = group[group["n"] == group["n"].max()]
        acc = top.groupby("source")[column].mean()
        paired = top.pivot_table(index="seed", columns="source", values=column)
        closed = gap_closed(group, split)
        entry: dict[str, object] = {
            "data": dataset,
            "generator (what it saw)": f"{generator} ({SAW.get(generator, '?')})",
            "student": student,
            "n": int(top["n"].iloc[0]),
            "seeds": int(paired.shape[0]),
            "teacher": f"{top[teacher].mean():.3f}",
            "real only": f"{group[group['n'] == 0][column].mean():.3f}",
        }
        for source in SOURCES:
            if source in acc:
                entry[SHORT[source]] = f"{acc[source]:.3f}"
        for source in ("generator-and-warps", "warps"):
            if source in closed:
                entry[f"{SHORT[source]} closed"] = f"{closed[source]:.2f}"
        for source in ("generator-and-warps", "moves", "generator"):
            if source in paired and "warps" in paired:
                gain = paired[source] - paired["warps"]
                entry[f"{SHORT[source]} - warps"] = (
                    _interval(gain) if split == "test" else f"{gain.mean():+.3f}"
                )
        if split == "test":
            entry["student s"] = f"{top['seconds'].mean():.1f}"  # one fit and its predictions
        out.append(entry)
    return pd.DataFrame(out)


def diagnosis_table(sources: pd.DataFrame) -> pd.DataFrame:
    """Per data set, generator and source: what the teacher says of the images and how near
    they lie to real ones (means over seeds)."""
    columns = ["confidence", "entropy", "precision", "recall"]
    table = sources.groupby(["dataset", "generator", "source"], sort=False)[columns].mean()
    return table.reset_index().round(3)


def choice_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Per generator, generative arm (its samples alone, half of them with half warps, or the
    real images moved towards them) and student: the validation gap closed at the largest n,
    averaged over the data sets (what the recipe is chosen on), the worst data set's, and the
    test figure for the record."""
    out = []
    random = rows[rows["mode"] == "random"]
    for (generator, student), group in random.groupby(["generator", "student"], sort=False):
        for arm in ("generator", "generator-and-warps", "moves"):
            if arm not in set(group["source"]):
                continue
            per_set = [
                (gap_closed(g, "val").get(arm), gap_closed(g).get(arm))
                for _, g in group.groupby("dataset", sort=False)
            ]
            val, test = (pd.Series([p[i] for p in per_set], dtype=float) for i in (0, 1))
            out.append(
                {"generator": generator, "arm": arm, "student": student,
                 "datasets": len(per_set), "val_gap_closed": val.mean(),
                 "worst_val_gap_closed": val.min(), "test_gap_closed": test.mean()}
            )  # fmt: skip
    return pd.DataFrame(out).sort_values("val_gap_closed", ascending=False)


def per_set_choice_table(rows: pd.DataFrame) -> pd.DataFrame:
    """The recipe that chooses per data set (:mod:`tasks.transfer.choice`): in each run (data
    set, generator, student, seed) the source whose student has the best *validation* accuracy
    at the largest n, ties to the baselines. Per data set, generator and student: how often each
    source was chosen, the chosen student's test accuracy and gap closed, and its paired test
    gain over the warps (95% t-interval over seeds)."""
    out = []
    random = rows[rows["mode"] == "random"]
    for (dataset, generator), group in random.groupby(["dataset", "generator"], sort=False):
        picks = validation_picks(group)
        if picks.empty:
            continue
        for _, r in chosen_summary(picks).iterrows():
            real = group[(group["n"] == 0) & (group["student"] == r["student"])]["accuracy"]
            gap = group["teacher_accuracy"].mean() - real.mean()
            out.append(
                {
                    "data": dataset,
                    "generator": generator,
                    "student": r["student"],
                    "seeds": r["seeds"],
                    "chosen": r["chosen"],
                    "chosen accuracy": f"{r['accuracy']:.3f}",
                    "chosen closed": f"{(r['accuracy'] - real.mean()) / gap:.2f}",
                    "chosen - warps": (
                        interval_text(r["gain_over_warps"], r["gain_ci_low"], r["gain_ci_high"])
                        if pd.notna(r.get("gain_over_warps"))
                        else "-"  # the warps did not run
                    ),
                }
            )
    return pd.DataFrame(out)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--datasets", nargs="+", choices=list(DATASETS), default=list(DATASETS))
    parser.add_argument("--generators", nargs="+", choices=list(GENERATORS), default=["gmm"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--ns", nargs="+", type=int, default=[0, 4000])
    parser.add_argument("--students", nargs="+", default=["kernel-ridge", "svc"])
    parser.add_argument("--max-images", type=int, default=6000)
    parser.add_argument("--out", default="transfer-bench")
    parser.add_argument("--set", action="append", default=[], help="extra spec overrides")
    parser.add_argument("--update-results", action="store_true")
    parser.add_argument(
        "--tables-only",
        action="store_true",
        help="rewrite the tables from the rows a run of the same --out saved, without running",
    )
    args = parser.parse_args()
    quiet_libraries()
    command = "python benchmarks/transfer_bench.py " + " ".join(sys.argv[1:])
    if args.tables_only:
        saved = [pd.read_csv(RESULTS / f"{args.out}-{name}.csv") for name in TABLES]
        ran = (RESULTS / f"{args.out}-rows.md").read_text().split("`", 2)[1]
        command = f"{ran}`, tables rewritten by `{command}"
        text = _save(*saved, args.out, command, measured=False)
        print(text)
        if args.update_results:
            update_results(RESULTS / "transfer.md", args.out, text, "benchmarks/transfer_bench.py")
        return
    all_rows, all_sources, runs = [], [], []
    text = ""
    for dataset in args.datasets:
        gray = {"grayscale": True} if dataset == "cifar10" else {}
        for generator in args.generators:
            spec = load_spec(
                "transfer",
                [
                    f"name=bench-transfer-{dataset}-{generator}",
                    *data_overrides(dataset, max_images=args.max_images, **gray),
                    *GENERATORS[generator],
                    f"task.seeds={args.seeds}",
                    f"task.ns={args.ns}",
                    f"task.students=[{', '.join(args.students)}]",
                    f"task.sources=[{', '.join(_sources(generator))}]",
                    "task.focus=false",
                    "task.uncertain=false",
                    "output={experiment: transfer-bench, sample_grid: 0, log_model: false}",
                    *args.set,
                ],
            )
            start = time.perf_counter()
            result = run_pipeline(spec)
            wall = time.perf_counter() - start
            client = MlflowClient(result.tracking_uri)
            metrics = client.get_run(result.run_id).data.metrics
            tag = {"dataset": dataset, "generator": generator}
            for name, target in (("rows", all_rows), ("sources", all_sources)):
                path = client.download_artifacts(result.run_id, f"tables/{name}.csv")
                target.append(pd.read_csv(path).assign(**tag))
            runs.append(
                tag
                | {
                    "teacher s": round(metrics.get("teacher_seconds", float("nan"))),
                    "generator s": round(metrics.get("generator_seconds", float("nan"))),
                    "run wall s": round(wall),
                }
            )
            print(f"{dataset} / {generator}: {wall:.0f} s", flush=True)
            # saved after every run: a long bench that stops keeps what it finished
            text = _save(
                pd.concat(all_rows), pd.concat(all_sources), pd.DataFrame(runs), args.out, command
            )
    print(text)
    if args.update_results:
        update_results(RESULTS / "transfer.md", args.out, text, "benchmarks/transfer_bench.py")


def _save(
    rows: pd.DataFrame, sources: pd.DataFrame, runs: pd.DataFrame, out: str, command: str,
    measured: bool = True,
) -> str:  # fmt: skip
    """Write every table (the measured rows, sources and times too unless they are read back
    by ``--tables-only``) and return the text for the results file."""
    if measured:
        save_table(rows, f"{out}-rows", command)
        save_table(sources, f"{out}-sources", command)
        save_table(runs, f"{out}-times", command)
    texts = [
        save_table(cross_table(rows), out, command),
        save_table(cross_table(rows, "val"), f"{out}-val", command),
        save_table(choice_table(rows), f"{out}-choice", command),
        save_table(per_set_choice_table(rows), f"{out}-per-set", command),
        save_table(diagnosis_table(sources), f"{out}-diagnosis", command),
        (RESULTS / f"{out}-times.md").read_text(),
    ]
    body = [t.split("\n", 2)[2].strip() for t in texts]  # without the command line
    titles = [
        "Test split (reported, never chosen on); accuracies are means over the seeds:",
        "Validation split (what choices are made on):",
        "What the recipe is chosen on: validation gap closed, mean and worst over the data sets "
        "(test for the record):",
        "A recipe that chooses per data set, on validation, among the warps, mixup, the mixed "
        "source and the generator alone (test accuracy of the chosen student; gain over the "
        "warps with its 95% t-interval over seeds):",
        "What each source carries (teacher's confidence, label entropy in bits, k-NN precision "
        "and recall against real training images in the teacher's features):",
        "Time of each run (seconds):",
    ]
    return (
        texts[0].split("\n", 1)[0]
        + "\n\n"
        + "\n\n".join(f"{title}\n\n{table}" for title, table in zip(titles, body, strict=True))
        + "\n"
    )


if __name__ == "__main__":
    main()

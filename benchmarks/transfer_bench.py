"""Transfer benchmark: the ``transfer`` recipe on several data sets, with several generators.

    .venv/bin/python benchmarks/transfer_bench.py
        [--datasets usps pneumoniamnist retinamnist cifar10] [--generators gmm vae vae-latent]
        [--seeds 0 1 2] [--ns 0 4000] [--students kernel-ridge svc] [--max-images 6000]
        [--out transfer-bench] [--set key=value ...] [--update-results]

For each data set and generator, one pipeline run of the bundled ``transfer`` spec (tracked in
MLflow, experiment ``transfer-bench``; a generator already trained on the same data is reused,
so ``vae-latent`` samples the model ``vae`` trained). Only the data, the generator and the
settings below change, and they are the same for every data set: ``k_real`` 20 per class, every
split capped at ``--max-images`` (a seeded, stratified draw), CIFAR-10 made gray (BT.601 luma),
the random-order arm only, and besides the generator four sources labelled by the same teacher:
warps and mixup of the k real images (the baselines), half generated and half warps (does the
generator add to the warps?), and the training images themselves (``pool``: the ceiling a
generator that reproduced its training images would reach).

Every student is scored on the validation split as well as on the test split. What the recipe
ships is chosen on the validation columns; the test columns only report.

Saved under ``benchmarks/results/<out>*`` (CSV and Markdown, with the command): every row, the
diagnosis of every source, and the cross table per data set, generator and student at the
largest n: teacher and real-only accuracy, the share of the teacher-student gap each source
closes (test), the generator's paired gain over the warps (test, 95% t-interval over seeds), the
same two on validation, the generator's k-NN precision and recall in the teacher's features, and
the time of each part. ``--update-results`` also puts the cross table into
``benchmarks/results/transfer.md``.
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
from tasks.stats import mean_ci

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
SOURCES = ("generator", "warps", "mixup", "generator-and-warps", "pool")


def _interval(values: pd.Series) -> str:
    ci = mean_ci(values.dropna(), 0.95)
    return f"{ci['mean']:+.3f} [{ci['ci_low']:+.3f}, {ci['ci_high']:+.3f}]"


def gap_closed(group: pd.DataFrame, split: str = "test") -> pd.Series:
    """Per source at the group's largest n: ``(acc_n - acc_0) / (teacher - acc_0)`` from the
    accuracies' means over seeds (a ratio of means: stable where one seed's gap is tiny)."""
    column, teacher = (
        ("accuracy", "teacher_accuracy") if split == "test" else ("val_accuracy",
                                                                  "teacher_val_accuracy")
    )  # fmt: skip
    real = group[group["n"] == 0][column].mean()
    top = group[group["n"] == group["n"].max()]
    gap = top[teacher].mean() - real
    return (top.groupby("source")[column].mean() - real) / gap


def cross_table(rows: pd.DataFrame, sources: pd.DataFrame) -> pd.DataFrame:
    """Per data set, generator and student, at the largest n, random order."""
    out = []
    keys = ["dataset", "generator", "student"]
    for (dataset, generator, student), group in rows[rows["mode"] == "random"].groupby(
        keys, sort=False
    ):
        n = group["n"].max()
        top = group[group["n"] == n]
        test = top.pivot_table(index="seed", columns="source", values="accuracy")
        val = top.pivot_table(index="seed", columns="source", values="val_accuracy")
        closed, val_closed = gap_closed(group), gap_closed(group, "val")
        real = group[group["n"] == 0].drop_duplicates("seed")["accuracy"]
        diag = sources[(sources["dataset"] == dataset) & (sources["generator"] == generator)]
        diag = diag.groupby("source")[["precision", "recall"]].mean()
        entry: dict[str, object] = {
            "data": dataset,
            "generator (what it saw)": f"{generator} ({SAW.get(generator, '?')})",
            "student": student,
            "n": int(n),
            "seeds": int(test.shape[0]),
            "teacher": f"{group['teacher_accuracy'].mean():.3f}",
            "real only": f"{real.mean():.3f}",
        }
        for source in SOURCES:
            if source in closed:
                entry[f"{source} closed"] = f"{closed[source]:.2f}"
        if "warps" in test:
            entry["gen - warps (test)"] = _interval(test["generator"] - test["warps"])
            entry["val: gen closed"] = f"{val_closed['generator']:.2f}"
            entry["val: warps closed"] = f"{val_closed['warps']:.2f}"
            entry["val: gen - warps"] = f"{(val['generator'] - val['warps']).mean():+.3f}"
        if "generator-and-warps" in test and "warps" in test:
            both = "generator-and-warps"
            entry["gen+warps - warps (test)"] = _interval(test[both] - test["warps"])
            entry["val: gen+warps - warps"] = f"{(val[both] - val['warps']).mean():+.3f}"
        entry["student s"] = f"{top['seconds'].mean():.1f}"  # one fit and its predictions
        for source in ("generator", "warps"):
            if source in diag.index:
                entry[f"{source} precision / recall"] = (
                    f"{diag.loc[source, 'precision']:.2f} / {diag.loc[source, 'recall']:.2f}"
                )
        out.append(entry)
    return pd.DataFrame(out)


def choice_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Per generator, generative arm (its samples alone, or half of them with half warps) and
    student: the validation gap closed at the largest n, averaged over the data sets (what the
    recipe is chosen on), the worst data set's, and the test figure for the record."""
    out = []
    random = rows[rows["mode"] == "random"]
    for (generator, student), group in random.groupby(["generator", "student"], sort=False):
        for arm in ("generator", "generator-and-warps"):
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
    args = parser.parse_args()
    quiet_libraries()
    command = "python benchmarks/transfer_bench.py " + " ".join(sys.argv[1:])
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
                    f"task.sources=[{', '.join(SOURCES)}]",
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
            text = _save(pd.concat(all_rows), pd.concat(all_sources), runs, args.out, command)
    print(text)
    if args.update_results:
        update_results(RESULTS / "transfer.md", args.out, text, "benchmarks/transfer_bench.py")


def _save(
    rows: pd.DataFrame, sources: pd.DataFrame, runs: list[dict], out: str, command: str
) -> str:
    save_table(rows, f"{out}-rows", command)
    save_table(sources, f"{out}-sources", command)
    choice = save_table(choice_table(rows), f"{out}-choice", command)
    times = save_table(pd.DataFrame(runs), f"{out}-times", command)
    cross = save_table(cross_table(rows, sources), out, command)
    return (
        f"{cross}\nWhat the recipe is chosen on (validation gap closed, mean over the data "
        f"sets):\n\n{choice.split(chr(10), 2)[2]}\nTime of each run:\n\n"
        f"{times.split(chr(10), 2)[2]}"
    )


if __name__ == "__main__":
    main()

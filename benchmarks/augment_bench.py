"""Augmentation benchmark: the ``augment`` recipe as shipped, unchanged, on several data sets.

    .venv/bin/python benchmarks/augment_bench.py
        [--datasets usps pneumoniamnist retinamnist cifar10] [--ks 10 50]
        [--seeds 0 1 2 3 4] [--out augment-bench] [--set key=value ...] [--update-results]

For each data set, one pipeline run of the bundled ``augment`` spec (tracked in MLflow,
experiment ``augment-bench``) with only the data, the k values, the seeds and where results go
changed; every model, training and task setting is the spec's, the same for all data sets. Each
run draws k labelled images per class from the training split, fits the generator on them, trains
the classifier of every arm and measures it on the test split, which nothing else sees.

Saved under ``benchmarks/results/<out>*`` (CSV and Markdown, with the command): the per-draw rows
of every run, the per-arm summary, and the cross-data-set table: per data set and k, real-only
accuracy, the paired gain of classic warps over real-only, and of each generated arm over
real-only and over classic warps (95% t-intervals over seeds), for the cross-validated arm the
draws that kept the generated images, the train-on-generated accuracy
(the generator's fidelity check), the generator's fit time and the wall time of the run. With
``--update-results`` the cross table also goes into ``benchmarks/results/augment.md``.
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
from tasks.augment.spec import CV_ARM
from tasks.stats import interval_text, mean_ci

RESULTS = Path(__file__).parent / "results"
GENERATED = ("real+classic+gen", "real+classic+gen-pretrain")
#: the table's name for each arm compared with real and with classic warps
SHORT = {
    "real+classic+gen": "gen",
    "real+classic+gen-pretrain": "pretrain",
    "real+classic+pseudo-pretrain": "pseudo",
    CV_ARM: "pretrain-cv",
}
ARMS = ["real", "real+classic", *GENERATED, "synthetic-only"]


def _interval(row: pd.Series, prefix: str) -> str:
    if prefix not in row or pd.isna(row[prefix]):
        return "-"
    return interval_text(row[prefix], row[f"{prefix}_ci_low"], row[f"{prefix}_ci_high"])


def cross_table(summaries: pd.DataFrame, rows: pd.DataFrame) -> pd.DataFrame:
    """One row per data set and k: what the issue's targets are judged on."""
    out = []
    for (dataset, k), group in summaries.groupby(["dataset", "k"], sort=False):
        arms = group.set_index("arm")
        draws = rows[(rows["dataset"] == dataset) & (rows["k"] == k)]
        entry: dict[str, object] = {
            "data": dataset,
            "generator (what it saw)": group["generator"].iloc[0] if "generator" in group else "-",
            "k": k,
            "seeds": int(arms.loc["real", "seeds"]),
            "real": f"{arms.loc['real', 'mean']:.3f} [{arms.loc['real', 'ci_low']:.3f}, "
            f"{arms.loc['real', 'ci_high']:.3f}]",
            "classic vs real": _interval(arms.loc["real+classic"], "gain"),
        }
        for arm, short in SHORT.items():
            if arm in arms.index:
                entry[f"{short} vs real"] = _interval(arms.loc[arm], "gain")
                entry[f"{short} vs classic"] = _interval(arms.loc[arm], "gain_vs_classic")
        if CV_ARM in arms.index:  # draws whose cross-validation inside the k images kept it
            chose = draws.loc[draws["arm"] == CV_ARM, "chosen"]
            kept = int((chose == "real+classic+gen-pretrain").sum())
            entry["cv kept pretrain"] = f"{kept}/{len(chose)}"
        if "synthetic-only" in arms.index:
            entry["synthetic-only"] = f"{arms.loc['synthetic-only', 'mean']:.3f}"
        fitted = draws[draws["generator_seconds"] > 0].drop_duplicates("seed")
        entry["generator fit s"] = (
            f"{fitted['generator_seconds'].mean():.0f}" if len(fitted) else "-"
        )
        out.append(entry)
    return pd.DataFrame(out)


def paired_between(
    rows_a: pd.DataFrame, arm_a: str, rows_b: pd.DataFrame, arm_b: str
) -> pd.DataFrame:
    """Per data set and k: ``arm_a`` of one bench run minus ``arm_b`` of another, paired by
    seed (95% t-interval). Refused unless both runs drew the same k-shot sets: the same
    ``draw`` fingerprint per seed, or, for runs saved before rows had one, identical ``real``
    accuracies."""
    out = []
    for (dataset, k), a in rows_a.groupby(["dataset", "k"], sort=False):
        b = rows_b[(rows_b["dataset"] == dataset) & (rows_b["k"] == k)]
        by = "draw" if "draw" in a and "draw" in b else "accuracy"
        same_a, same_b = (r[r["arm"] == "real"].set_index("seed")[by] for r in (a, b))
        if b.empty or not same_a.sort_index().equals(same_b.sort_index()):
            raise ValueError(f"{dataset}, k={k}: the two runs did not draw the same k-shot sets")
        acc_a, acc_b = (
            r[r["arm"] == arm].set_index("seed")["accuracy"] for r, arm in ((a, arm_a), (b, arm_b))
        )
        difference = (acc_a - acc_b).dropna()
        gain = mean_ci(difference, 0.95)
        interval = interval_text(gain["mean"], gain["ci_low"], gain["ci_high"])
        out.append(
            {"data": dataset, "k": k, "seeds": len(difference), f"{arm_a} - {arm_b}": interval}
        )
    return pd.DataFrame(out)


def _compare(first: str, second: str, command: str) -> None:
    """``--compare OUT:ARM OUT:ARM``: the paired difference of two saved bench runs' arms."""
    (out_a, arm_a), (out_b, arm_b) = (spec.split(":", 1) for spec in (first, second))
    rows_a, rows_b = (pd.read_csv(RESULTS / f"{out}-rows.csv") for out in (out_a, out_b))
    print(save_table(paired_between(rows_a, arm_a, rows_b, arm_b), f"{out_a}-vs-{out_b}", command))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--datasets", nargs="+", choices=list(DATASETS), default=list(DATASETS))
    parser.add_argument("--ks", nargs="+", type=int, default=[10, 50])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument("--arms", nargs="+", default=ARMS)
    parser.add_argument("--out", default="augment-bench")
    parser.add_argument("--set", action="append", default=[], help="extra spec overrides")
    parser.add_argument("--update-results", action="store_true")
    parser.add_argument(
        "--compare",
        nargs=2,
        metavar="OUT:ARM",
        help="instead of running: the paired difference between an arm of one saved run and an "
        "arm of another (e.g. augment-bench-pool:real+classic+gen-pretrain "
        "augment-bench-pseudo:real+classic+pseudo-pretrain)",
    )
    args = parser.parse_args()
    quiet_libraries()
    command = "python benchmarks/augment_bench.py " + " ".join(sys.argv[1:])
    if args.compare:
        _compare(*args.compare, command)
        return
    all_rows, all_summaries, walls = [], [], {}
    text = ""
    for dataset in args.datasets:
        spec = load_spec(
            "augment",
            [
                f"name=bench-augment-{dataset}",
                *data_overrides(dataset),
                f"task.ks={args.ks}",
                f"task.seeds={args.seeds}",
                f"task.arms=[{', '.join(args.arms)}]",
                "output={experiment: augment-bench, sample_grid: 0, log_model: false}",
                "reuse=false",
                *args.set,
            ],
        )
        start = time.perf_counter()
        result = run_pipeline(spec)
        walls[dataset] = time.perf_counter() - start
        client = MlflowClient(result.tracking_uri)
        task = spec.task
        saw = (
            "k-shot, labelled"
            if getattr(task, "generator_data", "kshot") == "kshot"
            else ("training pool, unlabelled")
        )
        if getattr(task, "sampling", "prior") != "prior":  # how its samples were drawn
            saw += f"; {task.sampling}"
        for name, target in (("rows", all_rows), ("results", all_summaries)):
            frame = pd.read_csv(client.download_artifacts(result.run_id, f"tables/{name}.csv"))
            generator = f"{spec.model.name} ({saw})" if task.needs_generator else "none"
            target.append(frame.assign(dataset=dataset, generator=generator))
        print(f"{dataset}: {walls[dataset]:.0f} s", flush=True)
        # saved after every data set: a long run that stops keeps what it finished
        text = _save(pd.concat(all_rows), pd.concat(all_summaries), walls, args.out, command)
    print(text)
    if args.update_results:
        update_results(RESULTS / "augment.md", args.out, text, "benchmarks/augment_bench.py")


def _save(
    rows: pd.DataFrame, summaries: pd.DataFrame, walls: dict[str, float], out: str, command: str
) -> str:
    table = cross_table(summaries, rows)
    table["run wall s"] = table["data"].map(lambda d: f"{walls[d]:.0f}")
    save_table(rows, f"{out}-rows", command)
    save_table(summaries, f"{out}-summary", command)
    return save_table(table, out, command)


if __name__ == "__main__":
    main()

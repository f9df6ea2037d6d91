"""Anomaly benchmark in one run: every likelihood model x every score, next to every baseline.

    .venv/bin/python benchmarks/anomaly_bench.py [--datasets pneumoniamnist retinamnist usps digits]
        [--models gmm ppca kde vae realnvp pixelcnn ddpm] [--digits 0 1 ...] [--epochs N]
        [--bootstrap 1000] [--out anomaly-bench] [--set key=value ...]

For each data set and model, one pipeline run (tracked in MLflow, experiment ``anomaly-bench``)
trains the model on normal training images and its likelihood-ratio background on perturbed
copies, then scores the test split with nll/bpd, complexity, likelihood ratio, typicality, the
ensemble and (with a 7x7 layout density fit on the normal training images) the layout scores.
The scikit-learn baselines and the compressor's code length alone run beside every
model, on the same split and the same calibration images, so each model's rows carry their AUROC
gain over the best baseline (paired bootstrap); the table keeps the baselines' rows once per
data set and normal class (they are the same in every run, about 15 s each). PneumoniaMNIST and
RetinaMNIST have one normal class (normal X-rays; retinopathy grade 0); USPS and the embedded
digits are one-class: each digit in turn is normal. The long table (one row per data set, normal
class, method) and a summary (per method and data set: mean and worst AUROC, mean gain, classes
ahead) are saved
under ``benchmarks/results/<out>*`` as CSV and Markdown, with the command that made them, and
logged to MLflow. Where the validation split holds anomalous images (both data sets), every row
also has its validation AUROC, and a third table says which detector validation alone would
pick in each run (``<out>-selected.csv``), with its test AUROC beside the best test AUROC of the
run: the honest number, since picking the best row after looking at the test split is not.
Every row also has its AUROC on synthetic anomalies made from normal validation images, and a
fourth table (``<out>-synthetic.csv``, summary ``<out>-synthetic-summary.csv``) says which model
score they pick with no labelled anomaly at all, and its regret: the test AUROC it gives up
against validation's pick and against the best model score on test.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

import mlflow
from pipelines.cli import quiet_libraries
from pipelines.runner import run_pipeline
from pipelines.spec.loading import apply_overrides, load_spec
from pipelines.spec.pipeline import PipelineSpec
from pipelines.tracking.artifacts import log_table
from pipelines.tracking.store import setup_experiment

if __package__ in (None, ""):  # run as a script: this repository's benchmarks, not a namesake
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # installed in site-packages
from benchmarks.anomaly_tables import (
    map_summary,
    no_label_choice,
    regret_summary,
    rule_comparison,
    rule_ranking,
    selection_summary,
    summarize,
    update_results,
    validation_choice,
)

RESULTS = Path(__file__).parent / "results"
SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"

# Small configurations that train in minutes on 2 CPU cores.
MODEL_PARAMS: dict[str, dict[str, Any]] = {
    "gmm": {"n_components": 8},
    "ppca": {"n_components": 32},
    "kde": {},  # bandwidth by leave-one-out likelihood, at most 2000 stored images
    "vae": {"hidden_channels": 32, "latent_dim": 16},
    "realnvp": {"hidden_channels": 32, "num_blocks": 2, "couplings_per_scale": 3},
    "pixelcnn": {"hidden_channels": 32, "num_blocks": 4, "first_kernel": 5},
    "ddpm": {},
}
DATASETS: dict[str, dict[str, Any]] = {
    "pneumoniamnist": {
        "data": {"name": "pneumoniamnist", "path": str(SHARED / "medical/pneumoniamnist.npz")},
        "normal": [[0]],
        "batch_size": 64,
    },
    "retinamnist": {  # colour fundus photographs: grade 0 normal, grades 1-4 anomalous
        "data": {"name": "medmnist", "path": str(SHARED / "medical/retinamnist.npz")},
        "normal": [[0]],
        "batch_size": 64,
    },
    "usps": {
        "data": {"name": "usps", "path": str(SHARED / "digits/usps.npz"), "val_fraction": 0.1},
        "normal": [[d] for d in range(10)],
        "batch_size": 64,
    },
    "digits": {  # scikit-learn's 8x8 digits, one-class per digit
        "data": {"name": "digits"},
        "normal": [[d] for d in range(10)],
        "batch_size": 32,
    },
}
SCORES = [
    "bpd", "complexity", "likelihood-ratio", "typicality", "ensemble",
    "layout", "layout-typicality",
]  # fmt: skip
BASELINES = ["kde", "gmm", "isolation_forest", "ocsvm", "pca_reconstruction"]


def _recipe(dataset: str, normal: list[int], args: argparse.Namespace) -> PipelineSpec:
    """A bundled spec as shipped (its model, training and task sections), on ``dataset``: only
    the data, the normal classes, the seed and where results go are changed."""
    info = DATASETS[dataset]
    data = yaml.safe_dump(info["data"], default_flow_style=True).strip()
    overrides = [
        f"name=bench-{args.spec}-{dataset}-{'-'.join(map(str, normal))}",
        f"seed={args.seed}",
        f"data={data}",
        f"task.normal_classes={normal}",
        f"task.bootstrap={args.bootstrap}",
        "output={experiment: anomaly-bench, sample_grid: 0, log_model: false}",
        *args.set,
    ]
    return load_spec(args.spec, overrides)


def _spec(dataset: str, model: str, normal: list[int], args: argparse.Namespace) -> PipelineSpec:
    if args.spec:
        return _recipe(dataset, normal, args)
    info = DATASETS[dataset]
    tree: dict[str, Any] = {
        "name": f"bench-{dataset}-{model}-{'-'.join(map(str, normal))}",
        "seed": args.seed,
        "data": info["data"],
        "model": {"name": model, "params": MODEL_PARAMS[model]},
        "train": {
            "max_epochs": args.epochs,
            "batch_size": info["batch_size"],
            "patience": max(3, args.epochs // 4),
        },
        "task": {
            "name": "anomaly",
            "normal_classes": normal,
            "score": "ensemble",
            "scores": SCORES,
            "background": {"mutation_rate": 0.2},
            "layout": {"image_size": [7, 7]},
            "baselines": BASELINES,
            "compressor_baselines": ["code_bits", "code_typicality"],
            "bootstrap": args.bootstrap,
        },
        "output": {"experiment": "anomaly-bench", "sample_grid": 0, "log_model": False},
    }
    return PipelineSpec.model_validate(apply_overrides(tree, args.set))


def no_label_policy(spec_name: str | None) -> str:
    """What a run deploys where no anomaly is labelled: the spec's fixed score or its synthetic
    rule (the bench's own configuration: the pooled synthetic rule)."""
    if spec_name is None:
        return "pooled"
    task = load_spec(spec_name).task
    return f"fixed:{task.score}" if task.unlabelled == "fixed" else task.synthetic_rule


def run_all(args: argparse.Namespace) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every pipeline run of the bench: the long table (one row per run and method) and the
    delivered detector's maps (one row per run). Saves the long table as it goes."""
    rows: list[dict[str, Any]] = []
    map_rows: list[dict[str, Any]] = []
    for dataset in args.datasets:
        normals = DATASETS[dataset]["normal"]
        if dataset == "usps" and args.digits is not None:
            normals = [[d] for d in args.digits]
        for normal in normals:
            models = [load_spec(args.spec).model.name] if args.spec else args.models
            for i, model in enumerate(models):
                spec = _spec(dataset, model, normal, args)
                start = time.perf_counter()
                result = run_pipeline(spec, log=lambda _: None)
                wall = time.perf_counter() - start
                print(f"{dataset} normal={normal} {model}: {wall:.0f} s", flush=True)
                run = mlflow.get_run(result.run_id)
                map_rows.append(
                    {
                        "dataset": dataset,
                        "normal": normal[0],
                        "model": model,
                        "map_kind": run.data.params.get("map_kind"),
                        "map_pixel_auroc": run.data.metrics.get("map_pixel_auroc", np.nan),
                        "map_pro": run.data.metrics.get("map_pro", np.nan),
                        "baseline_pixel_auroc": run.data.metrics.get(
                            "map_baseline_pixel_auroc", np.nan
                        ),
                        "baseline_pro": run.data.metrics.get("map_baseline_pro", np.nan),
                        "map_sigma": run.data.params.get("map_sigma"),
                        "map_standardized": run.data.params.get("map_standardized"),
                        "selection_pixel_auroc": run.data.metrics.get(
                            "map_selection_pixel_auroc", np.nan
                        ),
                        "model_map_pixel_auroc": run.data.metrics.get(
                            "map_model_pixel_auroc", np.nan
                        ),
                        **{  # the delivered map per synthetic corruption
                            k.removeprefix("map_"): v
                            for k, v in run.data.metrics.items()
                            if k.startswith("map_pixel_auroc.")
                        },
                    }
                )
                full = pd.read_csv(
                    mlflow.artifacts.download_artifacts(
                        run_id=result.run_id, artifact_path="tables/results.csv"
                    )
                )  # every column, the synthetic breakdown included (the print drops some)
                for _, row in full.iterrows():
                    if i > 0 and row["kind"] == "baseline":
                        continue  # the same baseline rows as beside the first model
                    rows.append(
                        {
                            "dataset": dataset,
                            "normal": normal[0],
                            **{str(k): v for k, v in row.items()},
                            "wall_s": wall,
                        }
                    )
                # save as we go: a sweep stopped half-way keeps its finished rows
                pd.DataFrame(rows).to_csv(RESULTS / f"{args.out}.csv", index=False)
                pd.DataFrame(map_rows).to_csv(RESULTS / f"{args.out}-map-runs.csv", index=False)
    return pd.DataFrame(rows), pd.DataFrame(map_rows)


def saved_runs(out: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The long table and the maps of an earlier run of the bench, to rewrite its tables; the
    maps as their per-run rows, or as the saved summary where the rows were not kept."""
    path = RESULTS / f"{out}.csv"
    if not path.exists():
        raise SystemExit(f"--tables-only: {path} does not exist; run the bench first")
    runs = RESULTS / f"{out}-map-runs.csv"
    summary = RESULTS / f"{out}-maps.csv"
    maps = pd.DataFrame()
    if runs.exists():
        maps = pd.read_csv(runs)
    elif summary.exists():
        maps = pd.read_csv(summary)
    if not {"map_pixel_auroc", "pixel_auroc"} & set(maps.columns):
        # not maps at all: another run's long table saved under `<out>-maps` (--out X-maps)
        print(f"--tables-only: no maps saved for {out}; the maps table is left empty")
        maps = pd.DataFrame()
    return pd.read_csv(path), maps


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument("--models", nargs="+", default=list(MODEL_PARAMS), choices=MODEL_PARAMS)
    parser.add_argument("--digits", type=int, nargs="+", default=None, help="USPS normal digits")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--out", default="anomaly-bench", help="file name stem of the results")
    parser.add_argument(
        "--update-results",
        action="store_true",
        help="also write the cross-data-set tables into benchmarks/results/anomaly.md",
    )
    parser.add_argument(
        "--spec",
        help="run this bundled spec as shipped on every data set (its model, training and task "
        "sections; --models and --epochs are then ignored)",
    )
    parser.add_argument(
        "--tables-only",
        action="store_true",
        help="train nothing: rewrite the tables from the rows an earlier run saved under --out",
    )
    args = parser.parse_args()
    quiet_libraries()
    command = "benchmarks/anomaly_bench.py " + " ".join(sys.argv[1:])
    RESULTS.mkdir(parents=True, exist_ok=True)
    table, map_runs = saved_runs(args.out) if args.tables_only else run_all(args)
    policy = no_label_policy(args.spec)

    summary = summarize(table)
    selected = validation_choice(table)
    chosen = selection_summary(selected)
    no_label = no_label_choice(table, policy)
    regret = regret_summary(no_label)
    rules = rule_comparison(table)
    ranking = rule_ranking(rules)
    maps = map_summary(map_runs)
    no_label_text = (
        f"With no labelled anomaly (`{policy}`: "
        + (
            f"the score `{policy.removeprefix('fixed:')}` fixed in advance"
            if policy.startswith("fixed:")
            else f"the pick of the `{policy}` rule on synthetic anomalies"
        )
        + "), and its regret against validation's pick and the best model score on test:\n\n"
    )
    text = (
        f"Command: `{command}`\n\nPer method (over normal classes for USPS): mean and worst "
        "AUROC, mean gain over the best baseline, classes with the gain's interval above zero:\n\n"
        + summary.to_markdown(index=False, floatfmt=".3f")
        + "\n\nSelected by validation AUROC (the test split not used to choose), mean test AUROC "
        "over the runs of each data set:\n\n"
        + chosen.to_markdown(index=False, floatfmt=".3f")
        + "\n\nSelected by validation AUROC, per run:\n\n"
        + selected.to_markdown(index=False, floatfmt=".3f")
        + "\n\n"
        + no_label_text
        + regret.to_markdown(index=False, floatfmt=".3f")
        + "\n\nChosen without labels, per run:\n\n"
        + no_label.to_markdown(index=False, floatfmt=".3f")
        + "\n\nWays of choosing without labels (synthetic rules, one score kept fixed), ranked "
        "by validation regret over the data sets (no test label read) and, for the record, test "
        "regret:\n\n"
        + ranking.to_markdown(index=False, floatfmt=".3f")
        + "\n\nThe same, per data set:\n\n"
        + rules.to_markdown(index=False, floatfmt=".3f")
        + "\n\nAnomaly maps of the delivered detector on synthetic local anomalies of normal test "
        "images (pixel AUROC, PRO up to a pixel FPR of 0.3), mean over runs, beside the "
        "nearest normal training image's difference (no model):\n\n"
        + maps.to_markdown(index=False, floatfmt=".3f")
        + "\n\nEvery row:\n\n"
        + table.to_markdown(index=False, floatfmt=".3f")
        + "\n"
    )
    (RESULTS / f"{args.out}.md").write_text(text)
    if args.update_results:
        what = f"the `{args.spec}` recipe" if args.spec else "the bench's default configuration"
        section = (
            f"## Across data sets: {what} ({time.strftime('%Y-%m-%d')})\n\n"
            f"Command: `{command}` (seed {args.seed})"
            + (
                "; the tables are rewritten from the rows the same command saved without "
                "`--tables-only` (every run trained and scored as shipped).\n\n"
                if args.tables_only
                else ".\n\n"
            )
            + "Mean test AUROC over the runs of each data set: `validation_pick`, the detector "
            "(model score or baseline) with the highest validation AUROC; `model_pick`, the model "
            "score with the highest validation AUROC; `deployed`, the model score each run "
            "deployed (the spec's validation rule); `ahead` and `behind` count runs whose "
            "deployed score's paired gain interval over the best baseline on test lies above or "
            "below zero:\n\n"
            + chosen.to_markdown(index=False, floatfmt=".3f")
            + "\n\n"
            + no_label_text
            + regret.to_markdown(index=False, floatfmt=".3f")
            + "\n\nWays of choosing without labels, ranked by validation regret (no test label "
            "read; test regret for the record):\n\n"
            + ranking.head(8).to_markdown(index=False, floatfmt=".3f")
            + "\n\nAnomaly maps of the deployed detector on synthetic local anomalies of normal "
            "test images:\n\n"
            + maps.to_markdown(index=False, floatfmt=".3f")
            + f"\n\nEvery row: `benchmarks/results/{args.out}.md` (regenerated by the command).\n"
        )
        update_results(RESULTS / "anomaly.md", args.spec or "anomaly-bench", section)
    summary.to_csv(RESULTS / f"{args.out}-summary.csv", index=False)
    selected.to_csv(RESULTS / f"{args.out}-selected.csv", index=False)
    chosen.to_csv(RESULTS / f"{args.out}-selected-summary.csv", index=False)
    no_label.to_csv(RESULTS / f"{args.out}-synthetic.csv", index=False)
    regret.to_csv(RESULTS / f"{args.out}-synthetic-summary.csv", index=False)
    maps.to_csv(RESULTS / f"{args.out}-maps.csv", index=False)
    rules.to_csv(RESULTS / f"{args.out}-synthetic-rules.csv", index=False)
    ranking.to_csv(RESULTS / f"{args.out}-no-label-ranking.csv", index=False)
    _, experiment_id = setup_experiment("anomaly-bench")
    with mlflow.start_run(experiment_id=experiment_id, run_name="anomaly-bench:summary"):
        mlflow.log_param("command", command[:500])
        log_table(table, "anomaly-bench")
        log_table(summary, "anomaly-bench-summary")
        log_table(selected, "anomaly-bench-selected")
        log_table(chosen, "anomaly-bench-selected-summary")
        log_table(no_label, "anomaly-bench-no-label")
        log_table(regret, "anomaly-bench-no-label-summary")
        log_table(ranking, "anomaly-bench-no-label-ranking")
    print(summary.to_markdown(index=False, floatfmt=".3f"))
    print(chosen.to_markdown(index=False, floatfmt=".3f"))
    print(regret.to_markdown(index=False, floatfmt=".3f"))
    print(ranking.to_markdown(index=False, floatfmt=".3f"))
    print(maps.to_markdown(index=False, floatfmt=".3f"))


if __name__ == "__main__":
    main()

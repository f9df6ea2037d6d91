"""One-class sweep: run an anomaly spec once per normal class and tabulate AUROC per method.

    .venv/bin/python benchmarks/anomaly_one_class.py [--spec anomaly-detect] [--classes 0 1 ...]
        [--set key=value ...]

Every run is a normal pipeline run (tracked in MLflow, experiment ``<spec>-sweep``); the script
prints a Markdown table (rows: methods, columns: normal class, plus the mean) and saves it with a
CSV under ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

from pipelines.cli import quiet_libraries
from pipelines.runner import run_pipeline
from pipelines.spec.loading import load_spec

RESULTS = Path(__file__).parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--spec", default="anomaly-detect")
    parser.add_argument("--classes", type=int, nargs="+", default=list(range(10)))
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    quiet_libraries()

    rows, walls = [], {}
    for c in args.classes:
        spec = load_spec(
            args.spec,
            [
                *args.set,
                f"task.normal_classes=[{c}]",
                f"output.experiment={Path(args.spec).stem}-sweep",
            ],
        )
        t0 = time.perf_counter()
        result = run_pipeline(spec, log=lambda _: None)
        walls[c] = time.perf_counter() - t0
        for _, row in result.table.iterrows():
            rows.append({"normal": c, "method": row["method"], "auroc": row["auroc"]})
        print(f"normal class {c}: {walls[c]:.0f} s, run {result.run_id}", flush=True)

    frame = pd.DataFrame(rows).pivot(index="method", columns="normal", values="auroc")
    frame["mean"] = frame.mean(axis=1)
    RESULTS.mkdir(exist_ok=True)
    stem = f"{Path(args.spec).stem}-one-class"
    frame.to_csv(RESULTS / f"{stem}.csv")
    markdown = frame.to_markdown(floatfmt=".3f")
    (RESULTS / f"{stem}.md").write_text(markdown + "\n")
    print(markdown)
    print(f"pipeline wall time per class: mean {sum(walls.values()) / len(walls):.1f} s")


if __name__ == "__main__":
    main()

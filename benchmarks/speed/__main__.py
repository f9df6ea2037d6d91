"""``make bench``: the speed suite. Every figure is a ratio or a fit measured in this run.

    .venv/bin/python -m benchmarks.speed [--quick]
        [--only overhead scoring scaling sampling validation contention roofline runtime
                cold-start spark end-to-end]
        [--targets anomaly-detect augment colorize transfer share test]

Each part prints its table as it finishes and saves it under ``benchmarks/results/bench-*.csv``
and ``.md`` (with the command and the machine); at the end all tables are logged to one MLflow
run in the experiment ``bench``. ``--quick`` shrinks every part (fewer steps, repeats and
images; no end-to-end) to check the suite itself in a few minutes; its numbers are not the
reported ones.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

import pandas as pd

from benchmarks.speed.cold_start import measure_cold_start
from benchmarks.speed.common import bench_images, log_tables, save_table
from benchmarks.speed.contention import measure_contention
from benchmarks.speed.end_to_end import TARGETS, measure_end_to_end
from benchmarks.speed.overhead import measure_overhead
from benchmarks.speed.roofline import measure_roofline
from benchmarks.speed.runtime import measure_runtime
from benchmarks.speed.sampling import measure_sampling
from benchmarks.speed.scaling import measure_scaling
from benchmarks.speed.scoring import measure_scoring
from benchmarks.speed.spark import measure_spark
from benchmarks.speed.validation import measure_validation
from genmodels.data.imageset import ImageSet

PARTS = (
    "overhead", "scoring", "scaling", "sampling", "validation", "contention", "roofline",
    "runtime", "cold-start", "spark", "end-to-end",
)  # fmt: skip


def _parts(quick: bool, targets: tuple[str, ...]) -> dict[str, Callable[[ImageSet], pd.DataFrame]]:
    if quick:
        return {
            "overhead": lambda ims: measure_overhead(
                ims, models=("vae", "dcgan"), steps=10, warmup=2, repeats=1
            ),
            "scoring": lambda ims: measure_scoring(ims, sizes=(300,)),
            "scaling": lambda ims: measure_scaling(ims, sizes=(256, 512)),
            "sampling": lambda ims: measure_sampling(ims, n=4),
            "validation": lambda ims: measure_validation(ims, n=16),
            "contention": lambda ims: measure_contention(("vae",), (1, 2), steps=5, warmup=1),
            "roofline": lambda ims: measure_roofline(ims, repeats=1, models=("vae",)),
            "runtime": lambda ims: measure_runtime(("vae",), rounds=1, seconds=0.1),
            "cold-start": lambda ims: measure_cold_start(ims, repeats=1),
            "spark": lambda ims: measure_spark(ims, n=600),
            "end-to-end": lambda ims: measure_end_to_end(("anomaly-detect",)),
        }
    return {
        "overhead": measure_overhead,
        "scoring": measure_scoring,
        "scaling": measure_scaling,
        "sampling": measure_sampling,
        "validation": measure_validation,
        "contention": lambda ims: measure_contention(),
        "roofline": measure_roofline,
        "runtime": lambda ims: measure_runtime(),
        "cold-start": measure_cold_start,
        "spark": measure_spark,
        "end-to-end": lambda ims: measure_end_to_end(targets),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.speed",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--only", nargs="+", choices=PARTS, default=None)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--targets", nargs="+", choices=list(TARGETS), default=list(TARGETS), help="end to end"
    )
    args = parser.parse_args()
    import os

    from pipelines.cli import quiet_libraries
    from pipelines.ops.allocator import keep_freed_memory

    quiet_libraries()
    keep_freed_memory(os.environ)  # as the priorworks command does
    only = args.only or [p for p in PARTS if not (args.quick and p == "end-to-end")]
    command = "python -m benchmarks.speed " + " ".join(sys.argv[1:])
    data, images = bench_images()
    print(f"data: {data}, {len(images)} training images {images.image_shape}", flush=True)
    parts = _parts(args.quick, tuple(args.targets))
    tables = {}
    for name in only:
        print(f"\n== {name}", flush=True)
        table = parts[name](images)
        suffix = "-quick" if args.quick else ""
        tables[f"bench-{name}{suffix}"] = table
        print(save_table(table, f"bench-{name}{suffix}", command), flush=True)
    log_tables(tables, command)


if __name__ == "__main__":
    main()

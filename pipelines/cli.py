"""``priorworks`` command line: run pipelines, score files, list models and data sets.

Exit codes: 0 success, 2 bad input (spec, names, files, data, capabilities), 1 anything else.
Heavy imports happen inside the commands so ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings
from collections.abc import MutableMapping, Sequence


def _cmd_run(args: argparse.Namespace) -> int:
    quiet_libraries()
    from pipelines.runner import run_pipeline
    from pipelines.spec.loading import load_spec

    quiet_libraries()  # after the imports: Lightning and MLflow set their log levels on import
    from genmodels.threads import share

    share()

    from pipelines.ops.distributed_run import distributed_role

    overrides = [*args.set, *(["reuse=false"] if args.retrain else [])]
    spec = load_spec(args.spec, overrides, args.preset)
    print(
        f"priorworks: running '{spec.name}' (task {spec.task.name}, "
        f"model {spec.model.name}, data {spec.data.name})"
    )
    with distributed_role(spec) as role:
        result = run_pipeline(role.spec)
    if not role.leader:
        print(f"rank {role.rank} of {role.world}: done; rank 0 recorded the run")
        return result.exit_code
    import pandas as pd

    with pd.option_context(
        "display.width", 160, "display.max_columns", 20, "display.float_format", "{:.3f}".format
    ):
        print("\n" + result.table.to_string(index=False) + "\n")
    print(f"MLflow run:  {result.run_id}  (experiment {result.experiment_id})")
    print(f"tracking:    {result.tracking_uri}")
    if result.model_uri:
        print(f"model:       {result.model_uri}")
    print("compare runs: make mlflow-ui, then open http://127.0.0.1:5000")
    return result.exit_code


def _cmd_models(args: argparse.Namespace) -> int:
    from genmodels.model_index import INDEX_SHAPE, read_index  # no torch: see model_index

    models = read_index()
    rows = [
        (m.name, m.family, m.likelihood, ", ".join(m.capabilities) or "-", f"{m.params:,}")
        for m in models
    ]
    header = ("name", "family", "likelihood", "capabilities", "params")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        cells = [c.ljust(w) for c, w in zip(row[:-1], widths, strict=False)]
        print("  ".join([*cells, row[-1].rjust(widths[-1])]))
    shape = "x".join(map(str, INDEX_SHAPE))
    print(f"\nparams: learned numbers at the default config for {shape} images")
    return 0


def _cmd_tasks(args: argparse.Namespace) -> int:
    quiet_libraries()
    from tasks.registry import all_tasks

    found = all_tasks()
    width = max(len(name) for name in found)
    for name, task in found.items():
        print(f"{name.ljust(width)}  {task.summary}")
    return 0


def _cmd_score(args: argparse.Namespace) -> int:
    quiet_libraries()
    from genmodels.errors import DataError
    from pipelines.tracking.scoring import ScoreSummary, score_path

    quiet_libraries()
    summary: ScoreSummary
    if args.engine == "spark":
        from pipelines.tracking.spark_scoring import score_with_spark

        if args.maps is not None:
            raise DataError("--maps is written by the local engine only; drop --engine spark")
        summary = score_with_spark(
            args.model,
            args.input,
            args.out,
            args.batch_size,
            args.target_fpr,
            args.threshold,
            args.runtime,
            args.executors,
            args.spark_master,
            args.executor_cores,
        )
    else:
        summary = score_path(
            args.model,
            args.input,
            args.out,
            args.batch_size,
            args.target_fpr,
            args.threshold,
            args.maps,
            args.runtime,
        )
    print(
        f"scored {summary.images} image(s): {summary.flagged} flagged as anomalous; "
        f"wrote {summary.out}"
    )
    if summary.failed:
        print(
            f"{summary.failed} input(s) could not be scored (not in {summary.out.name}); "
            f"each is named with the reason in {summary.errors}"
        )
    how = "recalibrated" if summary.recalibrated else "calibrated at training"
    print(
        f"threshold {summary.threshold:.6g} ({how}): a false-positive rate of at most "
        f"{summary.promised_fpr:.4f} on normal images like the model's calibration images"
    )
    return 0


def _cmd_colorize(args: argparse.Namespace) -> int:
    quiet_libraries()
    from pipelines.tracking.colorizing import colorize_path

    summary = colorize_path(
        args.model,
        args.input,
        args.out,
        args.samples,
        args.mean_samples,
        args.chroma_side or None,
        args.temperature,
        args.seed,
    )
    print(f"colorized {summary.images} image(s) into {summary.out} (table: colorized.csv)")
    if "psnr" in summary.table:
        colour = summary.table.dropna(subset=["psnr"])
        print(
            f"{len(colour)} input(s) had colour: PSNR of the estimate {colour['psnr'].median():.2f}"
            f" dB (median) against {colour['psnr_gray'].median():.2f} dB for the gray image"
        )
    return 0


def _cmd_datasets(args: argparse.Namespace) -> int:
    from genmodels.data.catalog import DATASETS

    print("\n".join(DATASETS))
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    quiet_libraries()
    import pandas as pd

    from pipelines.tracking.compare import runs_table, write_csv

    table = runs_table(args.experiment, args.metric, args.sort, args.ascending, args.nested)
    if table.empty:
        print(f"experiment '{args.experiment}' has no runs")
        return 0
    shown = table.drop(columns=["run_id", "started", "git_commit"]) if not args.wide else table
    with pd.option_context(
        "display.width", 200, "display.max_columns", 30, "display.float_format", "{:.4g}".format
    ):
        print(shown.head(args.limit).to_string(index=False))
    if args.csv:
        print(f"wrote {write_csv(table, args.csv)} ({len(table)} runs)")
    return 0


def _cmd_checkpoints(args: argparse.Namespace) -> int:
    from genmodels.errors import DataError
    from pipelines.ops.checkpoints import checkpoint_folders, prune
    from pipelines.tracking.store import tracking_uri

    if args.older_than < 0:
        raise DataError(f"--older-than {args.older_than}: a number of days must be >= 0")
    folders = checkpoint_folders(tracking_uri())
    if not folders:
        print("no checkpoints: every training finished or none has run here")
        return 0
    for f in folders:
        print(
            f"{f.key}  {f.size_bytes / 2**20:8.1f} MB  {f.age_days:6.1f} days  "
            f"newest run {f.status}"
        )
    if args.prune:
        removed = prune(folders, args.older_than)
        freed = sum(f.size_bytes for f in removed) / 2**20
        kept = len(folders) - len(removed)
        print(
            f"removed {len(removed)} folder(s), {freed:.1f} MB; kept {kept} (running, or newer "
            f"than {args.older_than:g} days: a rerun of their spec resumes from them)"
        )
    return 0


def _cmd_schedule(args: argparse.Namespace) -> int:
    quiet_libraries()
    from pipelines.ops.scheduler import build_scheduler, drop_stale_jobs, next_runs

    if args.list:
        for job_id, spec, when in next_runs(args.file, args.jobstore):
            print(f"{job_id:24s} {spec:24s} next run: {when.isoformat() if when else 'never'}")
        return 0
    scheduler, known = build_scheduler(args.file, blocking=True, store_url=args.jobstore)
    print(f"priorworks: scheduling {len(known)} pipeline(s) from {args.file}; Ctrl-C stops")
    scheduler.start(paused=True)
    dropped = drop_stale_jobs(scheduler, known)
    if dropped:
        print(f"removed jobs no longer in the file: {', '.join(dropped)}")
    try:
        scheduler.resume()  # blocks (BlockingScheduler) until interrupted
    except (KeyboardInterrupt, SystemExit):
        scheduler.shutdown(wait=True)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="priorworks", description="Generative models put to work."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a pipeline spec (a YAML path or a bundled name)")
    run.add_argument(
        "spec", help="path to a spec YAML, or a bundled spec name such as anomaly-detect"
    )
    run.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a spec key, e.g. --set train.max_epochs=5 (repeatable; YAML values)",
    )
    run.add_argument(
        "--preset", help="apply a preset of the spec first (e.g. tiny: seconds, for smoke tests)"
    )
    run.add_argument(
        "--retrain",
        action="store_true",
        help="train again even if a finished run has the same model, training and data",
    )
    run.set_defaults(func=_cmd_run)
    models = sub.add_parser("models", help="list the model zoo with capabilities")
    models.set_defaults(func=_cmd_models)
    sub.add_parser("tasks", help="list the tasks a spec can name").set_defaults(func=_cmd_tasks)
    sub.add_parser("datasets", help="list the named data sets").set_defaults(func=_cmd_datasets)
    score = sub.add_parser("score", help="score files with a logged anomaly model")
    score.add_argument(
        "--model",
        required=True,
        help="MLflow model URI (runs:/RUN/model, models:/NAME@champion) or a run id",
    )
    score.add_argument(
        "--input", required=True, help="npz, image file or folder, NIfTI/DICOM file or folder"
    )
    score.add_argument(
        "--out",
        default="scores.csv",
        help="CSV to write: file, score, p_value, flagged (default: scores.csv here)",
    )
    score.add_argument("--batch-size", type=int, default=256)
    moved = score.add_mutually_exclusive_group()
    moved.add_argument(
        "--target-fpr",
        type=float,
        help="recalibrate the threshold to this false-positive rate (no retraining)",
    )
    moved.add_argument("--threshold", type=float, help="flag scores above this value instead")
    score.add_argument(
        "--maps",
        metavar="DIR",
        help="also write one anomaly map per input into this new folder (PNG; NIfTI for NIfTI)",
    )
    score.add_argument(
        "--runtime",
        choices=("torch", "onnx"),
        default="torch",
        help="score with eager torch (default) or the model's ONNX export on ONNX Runtime",
    )
    score.add_argument(
        "--engine",
        choices=("local", "spark"),
        default="local",
        help="this process (default), or Spark: executors score in parallel and a file that "
        "cannot be decoded is reported in <out>.errors.csv instead of stopping the job "
        "(needs `make spark`); inputs may also be a Parquet table of encoded files",
    )
    score.add_argument(
        "--executors",
        type=int,
        default=2,
        help="Spark executors (default 2; on this machine, that many executor processes)",
    )
    score.add_argument("--executor-cores", type=int, default=1, help="cores per Spark executor")
    score.add_argument(
        "--spark-master",
        metavar="URL",
        help="a Spark cluster to run on (spark://host:7077, yarn, k8s://...) instead of this "
        "machine; the inputs must be at a path the executors see",
    )
    score.set_defaults(func=_cmd_score)
    colorize = sub.add_parser(
        "colorize", help="colorize gray images of any size with a colorize run's conditional flow"
    )
    colorize.add_argument(
        "--model",
        required=True,
        help="a colorize run (runs:/RUN or a run id) or a conditional-flow file",
    )
    colorize.add_argument(
        "--input", required=True, help="an image file or a folder of them (colour is made gray)"
    )
    colorize.add_argument("--out", required=True, help="a new folder for the results")
    colorize.add_argument("--samples", type=int, default=4, help="single draws to write per image")
    colorize.add_argument(
        "--mean-samples", type=int, default=16, help="draws averaged into the estimate"
    )
    colorize.add_argument(
        "--chroma-side",
        type=int,
        default=64,
        help="longer side at which chroma is drawn, then upsampled under the full-size luma "
        "(0: the image's own size)",
    )
    colorize.add_argument(
        "--temperature",
        type=float,
        help="of all latent draws (default: the temperatures the run calibrated on validation)",
    )
    colorize.add_argument("--seed", type=int, default=0)
    colorize.set_defaults(func=_cmd_colorize)
    compare = sub.add_parser("compare", help="the runs of an experiment as one table")
    compare.add_argument("experiment", help="MLflow experiment name, e.g. anomaly-detect")
    compare.add_argument(
        "--metric", action="append", help="metric columns to show (glob, repeatable: '*.auroc')"
    )
    compare.add_argument("--sort", help="column to sort by (descending unless --ascending)")
    compare.add_argument("--ascending", action="store_true")
    compare.add_argument("--nested", action="store_true", help="include nested (stage) runs")
    compare.add_argument("--limit", type=int, default=50, help="rows to print (CSV has all)")
    compare.add_argument("--wide", action="store_true", help="print run ids and commits too")
    compare.add_argument("--csv", help="also write the whole table to this CSV")
    compare.set_defaults(func=_cmd_compare)
    checkpoints = sub.add_parser(
        "checkpoints", help="list the checkpoints of unfinished trainings; --prune the stale ones"
    )
    checkpoints.add_argument(
        "--prune",
        action="store_true",
        help="remove those whose training is not running and older than --older-than days",
    )
    checkpoints.add_argument("--older-than", type=float, default=7.0, metavar="DAYS")
    checkpoints.set_defaults(func=_cmd_checkpoints)
    schedule = sub.add_parser("schedule", help="run pipelines on cron expressions (APScheduler)")
    schedule.add_argument("--file", default="schedules.yaml", help="the schedules file")
    schedule.add_argument("--list", action="store_true", help="show the next run times and exit")
    schedule.add_argument(
        "--jobstore", help="SQLAlchemy URL of the job store (default sqlite:///mlflow/scheduler.db)"
    )
    schedule.set_defaults(func=_cmd_schedule)
    return parser


def quiet_libraries() -> None:
    """Keep the console to what the user needs: results, not library tips and progress bars."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    warnings.filterwarnings("ignore", module="pytorch_lightning")
    warnings.filterwarnings("ignore", module="mlflow")
    warnings.filterwarnings("ignore", module="lightning_fabric")
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")
    for name in ("pytorch_lightning", "lightning_fabric", "lightning.pytorch", "mlflow"):
        logging.getLogger(name).setLevel(logging.ERROR)


#: libgomp's spin count before an idle OpenMP thread sleeps (its default is 300,000): short, so
#: that jobs side by side share the cores instead of burning them (benchmarks/NOTES.md)
SPIN_COUNT = "10000"


def share_cores(environ: MutableMapping[str, str]) -> None:
    """Let idle OpenMP threads sleep soon, unless the user chose a wait policy or spin count.
    Takes effect only before torch is first imported (the commands import it lazily)."""
    if "OMP_WAIT_POLICY" not in environ and "GOMP_SPINCOUNT" not in environ:
        environ["GOMP_SPINCOUNT"] = SPIN_COUNT


def fail_fast_on_a_lost_server(environ: MutableMapping[str, str]) -> None:
    """Give up on a tracking server that stopped answering after about 15 s of retries
    (1, 2, 4, 8 s) instead of MLflow's default of about 4 minutes, unless the user set the
    retries. A server restarted within that window is not noticed."""
    environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "4")
    environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")


def main(argv: Sequence[str] | None = None) -> int:
    share_cores(os.environ)
    fail_fast_on_a_lost_server(os.environ)
    from pipelines.ops.allocator import keep_freed_memory

    keep_freed_memory(os.environ)
    from genmodels.threads import join

    join(os.environ)  # listed as a live job: jobs share the cores (genmodels.threads)
    args = build_parser().parse_args(argv)
    from genmodels.errors import PriorworksError

    try:
        return int(args.func(args))
    except PriorworksError as err:
        print(f"priorworks: error: {err}", file=sys.stderr)
        return 2
    except Exception as err:  # a full disk or a server that is down is the user's to fix
        from pipelines.errors import disk_full, server_unreachable
        from pipelines.tracking.store import STORE_DIR, sqlite_file

        uri = os.environ.get("MLFLOW_TRACKING_URI", "")
        database = sqlite_file(uri)
        message = server_unreachable(err, uri) or disk_full(
            err, database.parent if database else STORE_DIR.resolve()
        )
        if message is None:
            raise
        print(f"priorworks: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

"""``priorworks score --engine spark``: score a folder, an npz or a Parquet table on Spark.

The driver lists the inputs (the same files, ids and order as the single-process ``score``),
copies the logged model once and ships it to every executor with ``SparkContext.addFile``. Each
executor scores its partitions with :class:`~pipelines.tracking.row_scoring.RowScorer` through
``mapInPandas`` (Arrow batches of ``batch_size`` rows): a file that cannot be decoded becomes an
error row, not a failed job. The scored rows are cached, sorted back into input order and
streamed to the driver, which writes the same CSV as the single-process path (``file, score,
p_value, flagged``) and the failed rows to ``<out>.errors.csv`` (``file, error``). Both files
are written under temporary names and renamed at the end.

Inputs: a folder or file of images or NIfTI/DICOM (read by the executors from a path they share
with the driver), an npz (its rows staged to a temporary Parquet table), or a Parquet table
(``.parquet`` file or a folder of them) with an id column (``file`` or ``path``) and a binary
column of encoded files (``content`` or ``image``), as Spark's ``binaryFile`` reader writes.

On one machine, ``executors`` starts that many executor processes (Spark's ``local-cluster``
master, one core each); ``master`` points the job at a cluster instead (``spark://...``,
``yarn``, ``k8s://...``), where ``executors`` asks for that many executors.
"""

from __future__ import annotations

import csv
import os
import shutil
import sys
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from genmodels.data.encoded import encode_npy
from genmodels.data.inputs import input_files
from genmodels.data.npz import iter_npz_arrays
from genmodels.errors import DataError, PriorworksError
from pipelines.tracking.row_scoring import OUTPUT_SCHEMA, RowScorer
from pipelines.tracking.scoring import (
    ScoreSummary,
    checked_out_path,
    load_scoring_model,
    recalibrate,
)

ID_COLUMNS = ("file", "path")
CONTENT_COLUMNS = ("content", "image")
EXECUTOR_MEMORY_MB = 1024


class SparkUnavailable(PriorworksError):
    """pyspark or Java is missing: names what to install."""


#: Spark's own log: errors only, to stderr (its default prints warnings meant for its developers)
_LOG4J2 = """\
rootLogger.level = error
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = spark %p %c{1}: %m%n%ex
"""


def require_spark() -> None:
    """Refuse, naming what to install, when pyspark or Java is missing."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        raise SparkUnavailable(
            "--engine spark needs pyspark: run `make spark` (installs priorworks[spark] and "
            "checks Java 17+), or `pip install -e '.[spark]'`"
        ) from None
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        raise SparkUnavailable(
            "--engine spark needs Java 17 or newer (Debian: apt-get install "
            "openjdk-17-jre-headless); `make spark` installs it"
        )


@contextmanager
def _spark_session(
    master: str | None, executors: int, cores: int, batch_size: int, staging: Path
) -> Iterator[Any]:
    """A Spark session for one job, stopped at the end; a job that succeeded on this machine
    leaves no executor logs behind (a failed one keeps them for a look)."""
    log_config = staging / "log4j2.properties"
    log_config.write_text(_LOG4J2)
    spark = _started(master, executors, cores, batch_size, log_config)
    try:
        yield spark
    except BaseException:
        spark.stop()
        raise
    logs = spark.sparkContext.applicationId
    spark.stop()
    _drop_worker_logs(logs, master)


def _started(
    master: str | None, executors: int, cores: int, batch_size: int, log_config: Path
) -> Any:
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # executors run this interpreter
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    if master is None:  # on this machine only: bind to loopback, not the host's address
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    # pyspark warns on every import that it is not tested with pandas 3 (its Arrow path is used
    # here, and the parity test checks its output)
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas")
    builder = (
        SparkSession.builder.appName("priorworks-score")
        .master(master or f"local-cluster[{executors},{cores},{EXECUTOR_MEMORY_MB + 512}]")
        .config("spark.executor.cores", str(cores))
        .config("spark.executor.memory", f"{EXECUTOR_MEMORY_MB}m")
        .config("spark.ui.enabled", "false")
        .config(
            "spark.driver.extraJavaOptions", f"-Dlog4j2.configurationFile={log_config.as_uri()}"
        )
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", str(batch_size))
        .config("spark.executorEnv.OMP_NUM_THREADS", str(cores))
        .config("spark.executorEnv.PYTHONWARNINGS", "ignore::FutureWarning")
        .config("spark.executorEnv.PRIORWORKS_MALLOC", os.environ.get("PRIORWORKS_MALLOC", ""))
    )
    if master:
        builder = builder.config("spark.executor.instances", str(executors))
    try:
        spark = builder.getOrCreate()
    except Exception as err:  # the JVM did not start: Java missing or too old, no memory
        raise SparkUnavailable(f"Spark did not start ({err})") from None
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def _drop_worker_logs(app_id: str, master: str | None) -> None:
    """Spark's ``local-cluster`` workers keep each job's executor logs under
    ``$SPARK_HOME/work/<app id>`` (inside the virtual environment) for good."""
    from pyspark.find_spark_home import _find_spark_home

    logs = Path(_find_spark_home()) / "work" / app_id
    if master is None and logs.is_dir():
        shutil.rmtree(logs, ignore_errors=True)


def _parquet_source(path: Path) -> bool:
    if path.is_file():
        return path.suffix.lower() == ".parquet"
    return path.is_dir() and any(path.glob("*.parquet"))


def _staged_npz(path: Path, into: Path, chunk: int = 1024) -> Path:
    """The npz's image rows as a Parquet table ``order, file, content`` (``.npy`` bytes)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table_path = into / "npz-rows.parquet"
    schema = pa.schema([("order", pa.int64()), ("file", pa.string()), ("content", pa.binary())])
    order = 0
    with pq.ParquetWriter(table_path, schema) as writer:
        for _, ids, rows in iter_npz_arrays(path, chunk):
            writer.write_table(
                pa.table(
                    {
                        "order": list(range(order, order + len(ids))),
                        "file": list(ids),
                        "content": [encode_npy(row) for row in rows],
                    },
                    schema=schema,
                )
            )
            order += len(ids)
    if order == 0:
        raise DataError(f"{path}: no images found")
    return table_path


def _table_frame(spark: Any, path: Path) -> Any:
    """A user's Parquet table as rows ``order, file, content``; refused, naming the columns
    found, when it has no id or no binary content column."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import BinaryType, StringType

    table = spark.read.parquet(str(path))
    types = {field.name: field.dataType for field in table.schema.fields}
    found = ", ".join(f"{n} ({t.simpleString()})" for n, t in types.items())
    ids = [c for c in ID_COLUMNS if isinstance(types.get(c), StringType)]
    contents = [c for c in CONTENT_COLUMNS if isinstance(types.get(c), BinaryType)]
    if not ids or not contents:
        raise DataError(
            f"{path}: a Parquet table to score needs a string column naming each image "
            f"({' or '.join(ID_COLUMNS)}) and a binary column of its encoded file "
            f"({' or '.join(CONTENT_COLUMNS)}); found {found or 'no columns'}"
        )
    order = types.get("order")
    return table.select(
        (F.col("order") if order is not None else F.monotonically_increasing_id())
        .cast("long")
        .alias("order"),
        F.col(ids[0]).alias("file"),
        F.col(contents[0]).alias("content"),
    )


def _input_frame(spark: Any, inputs: Path, staging: Path, slots: int) -> Any:
    """The rows to score: ``order, file`` and ``content`` (tables) or ``path`` (files)."""
    if inputs.is_file() and inputs.suffix.lower() == ".npz":
        return _table_frame(spark, _staged_npz(inputs, staging))
    if _parquet_source(inputs):
        return _table_frame(spark, inputs)
    import pandas as pd

    listed = input_files(inputs)
    frame = pd.DataFrame(
        {
            "order": range(len(listed)),
            "file": [file_id for file_id, _ in listed],
            "path": [str(file.resolve()) for _, file in listed],
        }
    )
    partitions = max(2 * slots, min(len(listed) // 512, 4096), 1)
    return spark.createDataFrame(frame, "order long, file string, path string").repartition(
        partitions
    )


@contextmanager
def _staged_outputs(out: Path) -> Iterator[tuple[Any, Any, Path]]:
    """Temporary CSVs for the scores and the failed rows, renamed onto ``out`` and
    ``<out>.errors.csv`` when the block ends without error (an empty error file is dropped,
    with any left by an earlier run); deleted otherwise."""
    errors_out = errors_path(out)
    made: list[str] = []
    try:
        handles = []
        for target in (out, errors_out):
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
            made.append(tmp)
            handles.append(os.fdopen(fd, "w", newline=""))
        with handles[0] as scores, handles[1] as errors:
            yield csv.writer(scores), csv.writer(errors), errors_out
        os.replace(made[0], out)
        if os.path.getsize(made[1]) > len("file,error\r\n"):
            os.replace(made[1], errors_out)
        elif errors_out.exists():
            errors_out.unlink()
    finally:
        for tmp in made:
            if os.path.exists(tmp):
                os.unlink(tmp)


def _write_scores(scored: Any, out: Path, inputs: Path) -> tuple[int, int, int, Path]:
    """Stream the scored rows, in input order, into ``out`` and its errors CSV; the counts of
    images scored, flagged and failed. Refused when not one image could be scored."""
    images = flagged = failed = 0
    first_error = ""
    with _staged_outputs(out) as (scores, errors, errors_out):
        scores.writerow(["file", "score", "p_value", "flagged"])
        errors.writerow(["file", "error"])
        for row in scored.orderBy("order", "part").toLocalIterator():
            if row.error is not None:
                errors.writerow([row.file, row.error])
                failed += 1
                first_error = first_error or row.error
                continue
            scores.writerow([row.file, row.score, row.p_value, row.flagged])
            images += 1
            flagged += int(row.flagged)
        if images == 0:
            raise DataError(
                f"{inputs}: no image could be scored ({failed} row(s) failed; the first: "
                f"{first_error or 'no rows'})"
            )
    return images, flagged, failed, errors_out


def errors_path(out: Path) -> Path:
    """Where the rows that could not be scored go: ``scores.csv`` -> ``scores.errors.csv``."""
    return out.with_name(f"{out.stem}.errors{out.suffix or '.csv'}")


def score_with_spark(
    uri: str,
    inputs: str | Path,
    out: str | Path,
    batch_size: int = 256,
    target_fpr: float | None = None,
    threshold: float | None = None,
    runtime: str = "torch",
    executors: int = 2,
    master: str | None = None,
    executor_cores: int = 1,
) -> ScoreSummary:
    """Score ``inputs`` on Spark into ``out`` (the single-process CSV) and, for rows that could
    not be scored, ``<out>.errors.csv``. Refused before Spark starts: bad options, an
    unresolvable model, a threshold that cannot move, a missing input."""
    if batch_size < 1:
        raise DataError(f"--batch-size must be at least 1, got {batch_size}")
    if executors < 1 or executor_cores < 1:
        raise DataError(
            f"--executors and --executor-cores must be at least 1, got {executors} and "
            f"{executor_cores}"
        )
    require_spark()
    out = checked_out_path(Path(out))
    inputs = Path(inputs)
    if not inputs.exists():
        raise DataError(f"{inputs}: no such file or folder")
    with tempfile.TemporaryDirectory(prefix="priorworks-spark-") as tmp:
        staging = Path(tmp)
        model_dir = staging / "model"
        loaded, detector = load_scoring_model(uri, runtime, copy_to=model_dir)
        detector = recalibrate(loaded, detector, target_fpr, threshold)
        with _spark_session(master, executors, executor_cores, batch_size, staging) as spark:
            # a folder cannot be shipped as it is; an archive is unpacked on every executor
            archive = shutil.make_archive(str(staging / "priorworks-model"), "zip", model_dir)
            spark.sparkContext.addArchive(archive)
            scorer = RowScorer(
                Path(archive).name, runtime, target_fpr, threshold, batch_size, executor_cores, True
            )
            rows = _input_frame(spark, inputs, staging, executors * executor_cores)
            scored = rows.mapInPandas(scorer, OUTPUT_SCHEMA).persist()  # sorted without rescoring
            images, flagged, failed, errors_out = _write_scores(scored, out, inputs)
            scored.unpersist()
    return ScoreSummary(
        images,
        flagged,
        out,
        detector.threshold.threshold,
        detector.threshold.promised_fpr(),
        target_fpr is not None or threshold is not None,
        failed,
        errors_out if failed else None,
    )

"""`priorworks compare`: the runs of an experiment as one pandas table.

Top-level (pipeline) runs by default, one row each, with the tags that identify them (task, model,
likelihood kind, dataset, config hash, git commit), their status and wall time, and their
metrics; ``--metric`` picks metric columns (a glob such as ``'*.auroc'``), ``--sort`` orders by
one, ``--csv`` writes the table.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path

import pandas as pd
from mlflow.tracking import MlflowClient

from genmodels.errors import PriorworksError
from pipelines.tracking.store import tracking_uri

TAG_COLUMNS = ("task", "model", "likelihood", "dataset", "config_hash", "git_commit")


class CompareError(PriorworksError):
    """The experiment or a requested column does not exist."""


def runs_table(
    experiment: str,
    metrics: list[str] | None = None,
    sort: str | None = None,
    ascending: bool = False,
    nested: bool = False,
) -> pd.DataFrame:
    """Runs of ``experiment`` (top-level only unless ``nested``) as a table."""
    uri = tracking_uri(existing=True)
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        names = sorted(e.name for e in client.search_experiments())
        raise CompareError(
            f"no experiment '{experiment}' in {uri}; experiments: {', '.join(names) or 'none'}"
        )
    rows = []
    for run in client.search_runs([exp.experiment_id], max_results=50000):
        tags = run.data.tags
        if not nested and "mlflow.parentRunId" in tags:
            continue
        end = run.info.end_time or run.info.start_time
        row: dict[str, object] = {
            "run_id": run.info.run_id,
            "name": run.info.run_name,
            "status": run.info.status,
            "started": pd.Timestamp(run.info.start_time, unit="ms"),
            "seconds": (end - run.info.start_time) / 1000.0,
        }
        row.update({t: tags.get(t, "") for t in TAG_COLUMNS})
        row.update(run.data.metrics)
        rows.append(row)
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    fixed = ["run_id", "name", "status", "started", "seconds", *TAG_COLUMNS]
    metric_cols = sorted(c for c in table.columns if c not in fixed)
    if metrics:
        chosen = [c for c in metric_cols if any(fnmatch.fnmatch(c, m) for m in metrics)]
        if not chosen:
            raise CompareError(
                f"no metric matches {', '.join(metrics)}; metrics here: {', '.join(metric_cols)}"
            )
        metric_cols = chosen
    table = table[fixed + metric_cols]
    if sort:
        if sort not in table.columns:
            raise CompareError(f"cannot sort by '{sort}': no such column")
        table = table.sort_values(sort, ascending=ascending, na_position="last")
    return table.reset_index(drop=True)


def write_csv(table: pd.DataFrame, path: str | Path) -> Path:
    path = Path(path)
    tmp = path.with_name(f".{path.name}.partial")
    table.to_csv(tmp, index=False)
    tmp.replace(path)
    return path

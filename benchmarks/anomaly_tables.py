"""The anomaly bench's tables, from its long table (one row per run and method): the summary
per method, what validation picks, what is deployed with no labelled anomaly and its regret,
the ways of choosing without labels ranked by validation regret, the maps, and the marked
section of a results file they are written into."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from tasks.anomaly.selection import confident_pick
from tasks.anomaly.spec import SYNTHETIC_RULE_METRIC


def summarize(table: pd.DataFrame) -> pd.DataFrame:
    """Per data set and method: mean and worst AUROC over the normal classes, their count, the
    mean AUROC gain over each run's best baseline, and in how many classes the gain's interval
    lies above zero (``ahead``; empty for the baselines themselves)."""
    ahead = table["auroc_gain_ci_low"].gt(0).astype(float)
    table = table.assign(ahead=ahead.where(table["auroc_gain"].notna()))
    summary = table.groupby(["dataset", "method"], sort=False).agg(
        mean=("auroc", "mean"),
        min=("auroc", "min"),
        count=("auroc", "size"),
        mean_gain=("auroc_gain", "mean"),
        ahead=("ahead", lambda a: a.sum(min_count=1)),
    )
    summary["ahead"] = summary["ahead"].astype("Int64")  # a count; <NA> for baselines
    return summary.reset_index().sort_values(["dataset", "mean"], ascending=[True, False])


def _top(rows: pd.DataFrame, column: str) -> pd.Series:
    return rows.iloc[int(rows[column].to_numpy().argmax())]


def _deployed(models: pd.DataFrame, best: pd.Series) -> pd.Series:
    """The model score a run deployed: the ``confident`` rule's pick where the run measured its
    validation gains over the first model score (the spec's ``score``), else ``best``."""
    if "val_gain_ci_low" not in models or models["val_gain_ci_low"].isna().any():
        return best
    pick = confident_pick(models["val_auroc"].to_numpy(), models["val_gain_ci_low"].to_numpy())
    return models.iloc[pick]


def validation_choice(table: pd.DataFrame) -> pd.DataFrame:
    """Per data set and normal class: the detector (model score or baseline) with the highest
    validation AUROC, its test AUROC and interval, the best test AUROC of the same rows (what
    choosing on the test split would claim), the model score with the highest validation AUROC
    (``model_pick``, what ``task.validation_rule: best`` deploys) and the one the run deployed
    (``deployed``: the ``confident`` rule's pick where the run measured validation gains), each
    with its test AUROC gain over the run's best baseline, the baseline validation picks, and the
    best baseline's test AUROC. Empty where no row has a validation AUROC."""
    rated = table.dropna(subset=["val_auroc"]) if "val_auroc" in table else table.iloc[:0]
    rows = []
    for (dataset, normal), group in rated.groupby(["dataset", "normal"], sort=False):
        chosen, best = _top(group, "val_auroc"), _top(group, "auroc")
        is_baseline = group["kind"] == "baseline"
        models, baselines = group[~is_baseline], group[is_baseline]
        model = _top(models, "val_auroc") if len(models) else pd.Series(dtype=object)
        deployed = _deployed(models, model) if len(models) else model
        baseline = _top(baselines, "val_auroc") if len(baselines) else pd.Series(dtype=object)
        rows.append(
            {
                "dataset": dataset,
                "normal": normal,
                "selected": chosen["method"],
                "val_auroc": chosen["val_auroc"],
                "auroc": chosen["auroc"],
                "auroc_ci_low": chosen["auroc_ci_low"],
                "auroc_ci_high": chosen["auroc_ci_high"],
                "best_on_test": best["method"],
                "best_test_auroc": best["auroc"],
                "model_pick": model.get("method"),
                "model_pick_auroc": model.get("auroc"),
                "model_pick_gain": model.get("auroc_gain"),
                "model_pick_gain_ci_low": model.get("auroc_gain_ci_low"),
                "model_pick_gain_ci_high": model.get("auroc_gain_ci_high"),
                "deployed": deployed.get("method"),
                "deployed_auroc": deployed.get("auroc"),
                "deployed_gain": deployed.get("auroc_gain"),
                "deployed_gain_ci_low": deployed.get("auroc_gain_ci_low"),
                "deployed_gain_ci_high": deployed.get("auroc_gain_ci_high"),
                "baseline_pick": baseline.get("method"),
                "baseline_pick_auroc": baseline.get("auroc"),
                "best_baseline_auroc": baselines["auroc"].max() if len(baselines) else None,
            }
        )
    return pd.DataFrame(rows)


def _no_label_pick(group: pd.DataFrame, policy: str) -> pd.Series | None:
    """The model score a way of choosing without labels deploys from one run's model rows:
    ``fixed:<score>`` keeps that score; a synthetic rule takes the highest AUROC in its column."""
    if policy.startswith("fixed:"):
        rows = group[group["method"].str.split(":").str[-1] == policy.removeprefix("fixed:")]
        return rows.iloc[0] if len(rows) else None
    column = SYNTHETIC_RULE_METRIC[policy]
    if column not in group or group[column].isna().all():
        return None
    return _top(group.dropna(subset=[column]), column)


def no_label_choice(table: pd.DataFrame, policy: str = "pooled") -> pd.DataFrame:
    """Per data set and normal class: the model score deployed with no labelled anomaly (by
    ``policy``: a synthetic rule, what ``task.unlabelled: synthetic`` does, or ``fixed:<score>``,
    what ``task.unlabelled: fixed`` does), its test AUROC and gain over the best baseline, beside
    the model score labelled validation picks and the best model score on test.
    ``regret_vs_best`` and ``regret_vs_validation`` are how much test AUROC the choice gives up
    against those two. Empty where the policy picks nothing (no synthetic AUROC, no such
    score)."""
    rows = []
    models = table[table["kind"] != "baseline"]
    for (dataset, normal), group in models.groupby(["dataset", "normal"], sort=False):
        pick = _no_label_pick(group, policy)
        if pick is None:
            continue
        best = _top(group, "auroc")
        rated = group.dropna(subset=["val_auroc"]) if "val_auroc" in group else group.iloc[:0]
        validation = _top(rated, "val_auroc") if len(rated) else pd.Series(dtype=object)
        val_auroc = validation.get("auroc", np.nan)
        rows.append(
            {
                "dataset": dataset,
                "normal": normal,
                "policy": policy,
                "no_label_pick": pick["method"],
                "synthetic_auroc": pick.get("synthetic_auroc", np.nan),
                "auroc": pick["auroc"],
                "gain": pick.get("auroc_gain"),
                "gain_ci_low": pick.get("auroc_gain_ci_low"),
                "gain_ci_high": pick.get("auroc_gain_ci_high"),
                "validation_pick": validation.get("method"),
                "validation_pick_auroc": val_auroc,
                "best_model_on_test": best["method"],
                "best_model_auroc": best["auroc"],
                "regret_vs_best": best["auroc"] - pick["auroc"],
                "regret_vs_validation": val_auroc - pick["auroc"],
            }
        )
    return pd.DataFrame(rows)


def policies(table: pd.DataFrame) -> list[str]:
    """Every way of choosing without labels the table can judge: each synthetic rule whose
    column it has, and each model score kept fixed."""
    models = table[table["kind"] != "baseline"]
    scores = dict.fromkeys(models["method"].str.split(":").str[-1])
    rules = [r for r, c in SYNTHETIC_RULE_METRIC.items() if c in table and table[c].notna().any()]
    return rules + [f"fixed:{s}" for s in scores]


def rule_comparison(table: pd.DataFrame) -> pd.DataFrame:
    """Per data set and way of choosing without labels (a synthetic rule, or one score kept
    fixed): the mean *validation* regret of its pick (the best validation AUROC among the model
    scores minus the pick's: what a way of choosing may be developed on, since it reads no test
    label) and, for the record, the mean test regret against the best model score on test."""
    models = table[table["kind"] != "baseline"]
    if "val_auroc" not in models or models["val_auroc"].isna().all():
        return table.iloc[:0]
    rows = []
    for (dataset, normal), group in models.groupby(["dataset", "normal"], sort=False):
        for policy in policies(table):
            pick = _no_label_pick(group, policy)
            if pick is None:
                continue
            rows.append(
                {
                    "dataset": dataset,
                    "normal": normal,
                    "rule": policy,
                    "pick": pick["method"],
                    "val_regret": group["val_auroc"].max() - pick["val_auroc"],
                    "test_regret": group["auroc"].max() - pick["auroc"],
                }
            )
    per_run = pd.DataFrame(rows)
    if per_run.empty:
        return per_run
    return (
        per_run.groupby(["dataset", "rule"], sort=False)
        .agg(
            runs=("pick", "size"),
            val_regret=("val_regret", "mean"),
            worst_val_regret=("val_regret", "max"),
            test_regret=("test_regret", "mean"),
        )
        .reset_index()
    )


def rule_ranking(rules: pd.DataFrame) -> pd.DataFrame:
    """The ways of choosing without labels ranked by their validation regret over the data
    sets (each data set weighs the same): mean and worst of the per-data-set means, and the
    worst single run; the test regret beside it, for the record only."""
    if rules.empty:
        return rules
    return (
        rules.groupby("rule", sort=False)
        .agg(
            datasets=("dataset", "size"),
            val_regret=("val_regret", "mean"),
            worst_dataset_val_regret=("val_regret", "max"),
            worst_run_val_regret=("worst_val_regret", "max"),
            test_regret=("test_regret", "mean"),
        )
        .reset_index()
        .sort_values(["val_regret", "worst_dataset_val_regret"])
    )


def regret_summary(choices: pd.DataFrame) -> pd.DataFrame:
    """Per data set: runs, mean test AUROC of the pick made without labels, of validation's pick
    and of the best model score on test, mean and worst regret of the first against both, and
    the runs where its gain over the best baseline lies above (``ahead``) or below (``behind``)
    zero."""
    if choices.empty:
        return choices
    frame = choices.assign(
        ahead=choices["gain_ci_low"].astype(float).gt(0),
        behind=choices["gain_ci_high"].astype(float).lt(0),
    )
    return (
        frame.groupby("dataset", sort=False)
        .agg(
            runs=("auroc", "size"),
            no_label_pick=("auroc", "mean"),
            validation_pick=("validation_pick_auroc", "mean"),
            best_model=("best_model_auroc", "mean"),
            mean_regret_vs_best=("regret_vs_best", "mean"),
            worst_regret_vs_best=("regret_vs_best", "max"),
            mean_regret_vs_validation=("regret_vs_validation", "mean"),
            worst_regret_vs_validation=("regret_vs_validation", "max"),
            ahead=("ahead", "sum"),
            behind=("behind", "sum"),
        )
        .reset_index()
    )


def selection_summary(selected: pd.DataFrame) -> pd.DataFrame:
    """Per data set, over its runs (normal classes): mean test AUROC of validation's pick (all
    detectors; model scores only; baselines only), of the model score the runs deployed, of the
    best row on test and of the best baseline on test, and in how many runs the deployed score's
    gain interval over the best baseline lies above zero (``ahead``) or below it (``behind``)."""
    if selected.empty:
        return selected
    frame = selected.assign(
        ahead=selected["deployed_gain_ci_low"].astype(float).gt(0),
        behind=selected["deployed_gain_ci_high"].astype(float).lt(0),
    )
    return (
        frame.groupby("dataset", sort=False)
        .agg(
            runs=("auroc", "size"),
            validation_pick=("auroc", "mean"),
            model_pick=("model_pick_auroc", "mean"),
            deployed=("deployed_auroc", "mean"),
            baseline_pick=("baseline_pick_auroc", "mean"),
            best_on_test=("best_test_auroc", "mean"),
            best_baseline_on_test=("best_baseline_auroc", "mean"),
            deployed_gain=("deployed_gain", "mean"),
            ahead=("ahead", "sum"),
            behind=("behind", "sum"),
        )
        .reset_index()
    )


def update_results(
    path: Path, name: str, text: str, writer: str = "benchmarks/anomaly_bench.py"
) -> None:
    """Put ``text`` between the ``name`` markers of a results file (added at its end the first
    time), leaving the rest of the file as it is."""
    begin, end = (
        f"<!-- begin: {name} (written by {writer}) -->",
        f"<!-- end: {name} -->",
    )
    block = f"{begin}\n{text.strip()}\n{end}"
    current = path.read_text() if path.exists() else ""
    if begin in current and end in current:
        head, rest = current.split(begin, 1)
        updated = head + block + rest.split(end, 1)[1]
    else:
        updated = current.rstrip() + "\n\n" + block + "\n"
    path.write_text(updated)


def map_summary(maps: pd.DataFrame) -> pd.DataFrame:
    if maps.empty or "pixel_auroc" in maps:  # already summarized
        return maps
    return (
        maps.groupby(["dataset", "model", "map_kind"], sort=False, dropna=False)
        .agg(
            runs=("map_pro", "size"),
            pixel_auroc=("map_pixel_auroc", "mean"),
            pro=("map_pro", "mean"),
            **(
                {
                    "nearest_normal_pixel_auroc": ("baseline_pixel_auroc", "mean"),
                    "nearest_normal_pro": ("baseline_pro", "mean"),
                }
                if "baseline_pixel_auroc" in maps
                else {}
            ),
            **(
                {  # the model's own map, raw, on the same anomalies; the chosen map's score on
                    # the validation anomalies it was chosen on
                    "model_map_pixel_auroc": ("model_map_pixel_auroc", "mean"),
                    "selection_pixel_auroc": ("selection_pixel_auroc", "mean"),
                }
                if "model_map_pixel_auroc" in maps
                else {}
            ),
            **{c: (c, "mean") for c in maps.columns if c.startswith("pixel_auroc.")},
        )
        .reset_index()
    )

"""Which source a run delivers, chosen on the validation split per data set.

No source wins everywhere: generated images help the kernel student on some data sets and cost
it on others, where warps of the k real images do better. So the recipe does not fix the source:
in each seed, at the largest n, the source whose student has the best *validation* accuracy is
the one delivered, among :data:`CHOOSABLE` (the training-pool ceiling is never a candidate). A
tie keeps the earlier one in that order: the baselines before anything generated. The test
accuracy of what was chosen, and its gain over the warps paired by seed, are then reported; the
test split chooses nothing.
"""

from __future__ import annotations

import pandas as pd

from tasks.stats import mean_ci

#: what may be delivered, in the order that breaks ties
CHOOSABLE = ("warps", "mixup", "generator-and-warps", "moves", "generator")


def validation_picks(rows: pd.DataFrame, choosable: tuple[str, ...] = CHOOSABLE) -> pd.DataFrame:
    """Per (student, mode, seed), at the largest n: the chosen ``source``, its test ``accuracy``
    and ``val_accuracy``, and the warps' test accuracy in the same seed (``warps_accuracy``, NaN
    where the warps did not run). Empty without validation scores or a choosable source."""
    if "val_accuracy" not in rows or rows.empty:
        return pd.DataFrame()
    out = []
    for (student, mode), group in rows.groupby(["student", "mode"], sort=False):
        top = group[(group["n"] == group["n"].max()) & group["source"].isin(choosable)]
        if top.empty or top["n"].iloc[0] == 0:
            continue
        for seed, run in top.groupby("seed", sort=True):
            by_source = run.drop_duplicates("source").set_index("source")
            order = [s for s in choosable if s in by_source.index]
            pick = max(order, key=lambda s: (by_source.loc[s, "val_accuracy"], -order.index(s)))
            warps = by_source["accuracy"].get("warps", float("nan"))
            out.append(
                {"student": student, "mode": mode, "seed": seed, "n": int(top["n"].iloc[0]),
                 "source": pick, "accuracy": float(by_source.loc[pick, "accuracy"]),
                 "val_accuracy": float(by_source.loc[pick, "val_accuracy"]),
                 "warps_accuracy": float(warps)}
            )  # fmt: skip
    return pd.DataFrame(out)


def chosen_summary(picks: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """Per (student, mode): how often each source was chosen, the chosen students' test accuracy
    and their gain over the warps (mean and t-interval over seeds)."""
    out = []
    for (student, mode), group in picks.groupby(["student", "mode"], sort=False):
        counts = group["source"].value_counts()
        acc = mean_ci(group["accuracy"], confidence)
        entry = {
            "student": student,
            "mode": mode,
            "n": int(group["n"].iloc[0]),
            "seeds": len(group),
            "chosen": ", ".join(f"{s} {counts[s]}" for s in CHOOSABLE if s in counts),
            "accuracy": acc["mean"],
            "ci_low": acc["ci_low"],
            "ci_high": acc["ci_high"],
        }
        gain = (group["accuracy"] - group["warps_accuracy"]).dropna()
        if len(gain):
            ci = mean_ci(gain, confidence)
            entry.update(
                gain_over_warps=ci["mean"],
                gain_ci_low=ci["ci_low"],
                gain_ci_high=ci["ci_high"],
            )
        out.append(entry)
    return pd.DataFrame(out)

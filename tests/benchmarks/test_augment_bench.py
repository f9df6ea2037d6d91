"""The augmentation benchmark's cross-data-set table: one row per data set and k, the gains the
targets are judged on, read from the task's own summary and per-draw rows."""

from __future__ import annotations

import pandas as pd
import pytest

from benchmarks.augment_bench import DATASETS, cross_table, paired_between
from tasks.augment.experiment import summarize


def _rows(dataset: str, gen_gain: float) -> pd.DataFrame:
    rows = []
    for seed in range(5):
        for arm, acc in [
            ("real", 0.70 + 0.01 * seed),
            ("real+classic", 0.72 + 0.01 * seed),
            ("real+classic+gen-pretrain", 0.72 + gen_gain + 0.01 * seed + 0.002 * (seed % 2)),
            ("synthetic-only", 0.40),
        ]:
            generated = arm not in ("real", "real+classic")
            rows.append({"k": 10, "seed": seed, "arm": arm, "accuracy": acc,
                         "generator_seconds": 30.0 + seed if generated else 0.0})  # fmt: skip
    return pd.DataFrame(rows).assign(dataset=dataset)


def test_the_cross_table_reports_paired_gains_fidelity_and_generator_time():
    rows = pd.concat([_rows("usps", 0.02), _rows("cifar10", -0.01)])
    summaries = pd.concat(
        summarize(r.drop(columns="dataset")).assign(dataset=d)
        for d, r in rows.groupby("dataset", sort=False)
    )
    table = cross_table(summaries, rows).set_index("data")
    assert list(table.index) == ["usps", "cifar10"]
    assert table.loc["usps", "classic vs real"].startswith("+0.020 [+0.020, +0.020]")
    low = float(table.loc["usps", "pretrain vs classic"].split("[")[1].split(",")[0])
    high = float(table.loc["cifar10", "pretrain vs classic"].split(", ")[1].rstrip("]"))
    assert low > 0 and high < 0  # ahead of classic on one, behind on the other
    assert table.loc["usps", "synthetic-only"] == "0.400"
    assert table.loc["usps", "generator fit s"] == "32"  # mean over seeds, counted once per draw
    assert table.loc["usps", "seeds"] == 5


def test_every_data_set_reads_from_the_shared_folder_with_a_known_loader():
    assert set(DATASETS) == {"usps", "pneumoniamnist", "retinamnist", "cifar10"}
    assert all("../shared/data" in spec["path"].replace("\\", "/") for spec in DATASETS.values())


def test_two_runs_are_compared_seed_by_seed_only_when_they_drew_the_same_sets():
    a = _rows("usps", 0.02)
    b = _rows("usps", 0.01).replace("real+classic+gen-pretrain", "real+classic+pseudo-pretrain")
    table = paired_between(a, "real+classic+gen-pretrain", b, "real+classic+pseudo-pretrain")
    (cell,) = table.iloc[:, -1]
    assert cell.startswith("+0.010 [") and int(table["seeds"].iloc[0]) == 5
    other_draws = b.assign(accuracy=b["accuracy"] + (b["arm"] == "real") * 0.05)
    with pytest.raises(ValueError, match="usps, k=10: the two runs did not draw the same"):
        paired_between(a, "real+classic+gen-pretrain", other_draws, "real+classic+pseudo-pretrain")
    # with fingerprints, the draws decide: a real-only classifier that trained differently on
    # the same draw does not stop the pairing, a different draw does
    a, b = a.assign(draw=a["seed"].map("d{}".format)), b.assign(draw=b["seed"].map("d{}".format))
    retrained = b.assign(accuracy=b["accuracy"] + (b["arm"] == "real") * 0.05)
    table = paired_between(
        a, "real+classic+gen-pretrain", retrained, "real+classic+pseudo-pretrain"
    )
    assert table.iloc[0, -1].startswith("+0.010 [")
    redrawn = b.assign(draw=b["draw"].where(b["seed"] != 3, "other"))
    with pytest.raises(ValueError, match="usps, k=10: the two runs did not draw the same"):
        paired_between(a, "real+classic+gen-pretrain", redrawn, "real+classic+pseudo-pretrain")


def test_the_cross_table_counts_the_draws_whose_cross_validation_kept_the_generator():
    rows = _rows("usps", 0.02)
    chosen = ["real+classic+gen-pretrain", "real+classic", "real+classic+gen-pretrain"] + [
        "real+classic"
    ] * 2
    cv = rows[rows["arm"] == "real+classic"].assign(
        arm="real+classic+gen-pretrain-cv", chosen=chosen
    )
    rows = pd.concat([rows, cv])
    summaries = summarize(rows.drop(columns="dataset")).assign(dataset="usps")
    table = cross_table(summaries, rows).set_index("data")
    assert table.loc["usps", "cv kept pretrain"] == "2/5"
    assert table.loc["usps", "pretrain-cv vs classic"].startswith("+0.000")

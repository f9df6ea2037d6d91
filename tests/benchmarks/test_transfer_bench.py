"""The transfer benchmark's tables: gap closed as a ratio of means, the generator's paired gain
over the warps, and the table the recipe is chosen on (validation only)."""

from __future__ import annotations

import pandas as pd
import pytest

from benchmarks.transfer_bench import (
    choice_table,
    cross_table,
    diagnosis_table,
    gap_closed,
    per_set_choice_table,
)


def _rows(dataset: str, generator: str, gen: float, val_gen: float) -> pd.DataFrame:
    """Real-only 0.80 (val 0.70), teacher 0.90 (val 0.90), warps 0.85 (val 0.80) at n = 100;
    the generator ``gen`` (val ``val_gen``); seed s adds 0.01 s to every accuracy."""
    rows = []
    for seed in range(3):
        shift = 0.01 * seed
        for source, acc, val in [("generator", gen, val_gen), ("warps", 0.85, 0.80)]:
            for n, a, v in [(0, 0.80, 0.70), (100, acc, val)]:
                rows.append({"seed": seed, "student": "kernel-ridge", "source": source,
                             "mode": "random", "n": n, "accuracy": a + shift,
                             "val_accuracy": v + shift, "teacher_accuracy": 0.90,
                             "teacher_val_accuracy": 0.90, "seconds": 1.0})  # fmt: skip
    return pd.DataFrame(rows).assign(dataset=dataset, generator=generator)


def test_gap_closed_is_a_ratio_of_means_on_either_split():
    rows = _rows("usps", "vae", 0.88, 0.85)
    closed = gap_closed(rows)
    # (0.89 - 0.81) / (0.90 - 0.81): the seeds' shift cancels in the means
    assert closed["generator"] == pytest.approx(0.08 / 0.09)
    assert closed["warps"] == pytest.approx(0.05 / 0.09)
    assert gap_closed(rows, "val")["generator"] == pytest.approx(0.15 / 0.19)


def test_the_cross_table_pairs_the_generator_with_the_warps_by_seed():
    rows = _rows("usps", "vae", 0.88, 0.85)
    (row,) = cross_table(rows).to_dict("records")
    assert row["n"] == 100 and row["seeds"] == 3
    assert row["real only"] == "0.810" and row["gen"] == "0.890" and row["warps"] == "0.860"
    assert row["gen - warps"].startswith("+0.030 [+0.030, +0.030]")  # the same every seed
    assert row["warps closed"] == "0.56"
    (val,) = cross_table(rows, "val").to_dict("records")
    assert val["gen - warps"] == "+0.050" and val["real only"] == "0.710"
    assert "student s" not in val


def test_the_diagnosis_averages_each_source_over_seeds():
    sources = pd.DataFrame(
        [{"seed": seed, "source": s, "confidence": 0.9, "entropy": 0.2, "precision": p + seed,
          "recall": r, "dataset": "usps", "generator": "vae"}
         for seed in (0, 1) for s, p, r in [("generator", 0.5, 0.5), ("warps", 0.7, 0.7)]]
    )  # fmt: skip
    table = diagnosis_table(sources).set_index("source")
    assert table.loc["generator", "precision"] == pytest.approx(1.0)  # (0.5 + 1.5) / 2
    assert table.loc["warps", "recall"] == pytest.approx(0.7)


def test_the_recipe_is_chosen_on_validation_not_on_test():
    # gmm is better on test, vae on validation: the choice table ranks by validation
    rows = pd.concat(
        [
            _rows("usps", "gmm", 0.89, 0.75),
            _rows("cifar10", "gmm", 0.89, 0.75),
            _rows("usps", "vae", 0.84, 0.85),
            _rows("cifar10", "vae", 0.84, 0.80),
        ]
    )
    table = choice_table(rows)
    assert list(table["generator"]) == ["vae", "gmm"]
    vae = table.iloc[0]
    assert vae["datasets"] == 2
    assert vae["val_gap_closed"] == pytest.approx((0.15 / 0.19 + 0.10 / 0.19) / 2)
    assert vae["worst_val_gap_closed"] == pytest.approx(0.10 / 0.19)
    assert table.iloc[1]["test_gap_closed"] > vae["test_gap_closed"]


def test_the_per_set_choice_reads_validation_and_reports_test_against_the_warps():
    # the generator wins on validation (0.85 vs 0.80) but loses on test (0.84 vs 0.85)
    loses = per_set_choice_table(_rows("usps", "vae", 0.84, 0.85)).iloc[0]
    assert loses["chosen"] == "generator 3" and loses["chosen accuracy"] == "0.850"  # + seed shifts
    assert loses["chosen - warps"].startswith("-0.010 [-0.010, -0.010]")
    # validation prefers the warps: they are what is delivered, at no gain
    keeps = per_set_choice_table(_rows("retina", "vae", 0.95, 0.75)).iloc[0]
    assert keeps["chosen"] == "warps 3" and keeps["chosen accuracy"] == "0.860"
    assert keeps["chosen closed"] == "0.56" and keeps["chosen - warps"].startswith("+0.000")
    # a tie on validation keeps the warps
    tie = per_set_choice_table(_rows("pneu", "vae", 0.95, 0.80)).iloc[0]
    assert tie["chosen"] == "warps 3"

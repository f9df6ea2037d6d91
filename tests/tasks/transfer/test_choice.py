"""The validation choice of the delivered source: read on validation only, ties to the
baselines, reported on test against the warps."""

from __future__ import annotations

import pandas as pd
import pytest

from tasks.transfer.choice import chosen_summary, validation_picks


def _rows(per_source: dict[str, tuple[float, float]], seeds: int = 3) -> pd.DataFrame:
    """``source -> (test, val)`` accuracy at n = 100 for one student, the same in every seed but
    for a seed shift of 0.01 * seed; the real-only rows (n = 0) at 0.5."""
    rows = []
    for seed in range(seeds):
        for source, (test, val) in per_source.items():
            for n, t, v in [(0, 0.5, 0.5), (100, test, val)]:
                rows.append({"seed": seed, "student": "svc", "mode": "random", "source": source,
                             "n": n, "accuracy": t + 0.01 * seed,
                             "val_accuracy": v + 0.01 * seed})  # fmt: skip
    return pd.DataFrame(rows)


def test_validation_chooses_and_test_only_reports():
    # the generator is best on validation and worst on test: it is chosen all the same
    rows = _rows({"warps": (0.80, 0.70), "generator": (0.75, 0.72), "pool": (0.99, 0.99)})
    picks = validation_picks(rows)
    assert list(picks["source"]) == ["generator"] * 3  # the pool ceiling is never a candidate
    (row,) = chosen_summary(picks).to_dict("records")
    assert row["chosen"] == "generator 3" and row["n"] == 100 and row["seeds"] == 3
    assert row["accuracy"] == pytest.approx(0.76)  # 0.75 + mean shift 0.01
    assert row["gain_over_warps"] == pytest.approx(-0.05)
    assert row["gain_ci_low"] == pytest.approx(-0.05) and row["gain_ci_high"] == pytest.approx(
        -0.05
    )


def test_a_tie_keeps_the_baseline_and_seeds_choose_on_their_own():
    tie = validation_picks(_rows({"generator": (0.9, 0.7), "warps": (0.8, 0.7)}))
    assert set(tie["source"]) == {"warps"}
    rows = _rows({"warps": (0.8, 0.70), "generator-and-warps": (0.85, 0.71)})
    rows.loc[(rows["seed"] == 2) & (rows["source"] == "warps"), "val_accuracy"] = 0.9
    picks = validation_picks(rows)
    assert list(picks["source"]) == ["generator-and-warps", "generator-and-warps", "warps"]
    assert chosen_summary(picks)["chosen"].iloc[0] == "warps 1, generator-and-warps 2"


def test_nothing_is_chosen_without_validation_scores_or_without_added_images():
    rows = _rows({"warps": (0.8, 0.7)})
    assert validation_picks(rows.drop(columns="val_accuracy")).empty
    assert validation_picks(rows[rows["n"] == 0]).empty
    (row,) = chosen_summary(validation_picks(_rows({"mixup": (0.8, 0.7)}))).to_dict("records")
    assert row["chosen"] == "mixup 3" and "gain_over_warps" not in row  # no warps to compare

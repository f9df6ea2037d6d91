"""The anomaly benchmark covers every unconditional likelihood model of the zoo, and its summary
counts, per method, the classes where a model score is ahead of the best baseline."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from benchmarks.anomaly_bench import MODEL_PARAMS
from benchmarks.anomaly_tables import (
    map_summary,
    no_label_choice,
    regret_summary,
    rule_comparison,
    rule_ranking,
    selection_summary,
    summarize,
    update_results,
    validation_choice,
)
from genmodels.registry import build_model, get_model_class, list_models


def _row(normal: int, method: str, auroc: float, gain: float | None, low: float | None) -> dict:
    return {
        "dataset": "usps",
        "normal": normal,
        "method": method,
        "kind": "baseline" if gain is None else "exact",
        "auroc": auroc,
        "auroc_gain": np.nan if gain is None else gain,
        "auroc_gain_ci_low": np.nan if low is None else low,
    }


def test_every_unconditional_likelihood_model_is_benchmarked_with_valid_parameters():
    zoo = {
        m.name
        for m in list_models()
        if m.likelihood in ("exact", "bound") and "conditional" not in m.capabilities
    }
    assert set(MODEL_PARAMS) == zoo
    for name, params in MODEL_PARAMS.items():  # the parameters build the model at 28x28
        assert build_model(get_model_class(name), (1, 28, 28), 256, params).name == name


def test_summary_counts_classes_ahead_of_the_baseline_and_leaves_baselines_blank():
    table = pd.DataFrame(
        [
            _row(0, "ocsvm", 0.90, None, None),
            _row(1, "ocsvm", 0.80, None, None),
            _row(0, "flow:typicality", 0.95, 0.05, 0.01),  # ahead
            _row(1, "flow:typicality", 0.82, 0.02, -0.01),  # interval touches zero
            _row(0, "flow:bpd", 0.40, -0.50, -0.60),
            _row(1, "flow:bpd", 0.30, -0.50, -0.55),
        ]
    )
    summary = summarize(table).set_index("method")

    assert summary.loc["flow:typicality", "ahead"] == 1
    assert summary.loc["flow:bpd", "ahead"] == 0
    assert summary.loc["ocsvm", "ahead"] is pd.NA
    assert np.isnan(summary.loc["ocsvm", "mean_gain"])
    assert summary.loc["flow:typicality", "mean_gain"] == np.mean([0.05, 0.02])
    assert summary.loc["flow:typicality", "min"] == 0.82
    assert summary.loc["flow:bpd", "count"] == 2
    # best mean AUROC first
    assert list(summary.index) == ["flow:typicality", "ocsvm", "flow:bpd"]


def test_validation_choice_picks_by_validation_and_reports_the_test_result_beside_the_best():
    rows = [
        _row(0, "ocsvm", 0.90, None, None) | {"val_auroc": 0.70},
        _row(0, "flow:layout", 0.80, -0.1, -0.2) | {"val_auroc": 0.95},  # validation's pick
        _row(0, "flow:bpd", 0.40, 0.0, 0.0) | {"val_auroc": np.nan},  # no validation number
        _row(1, "ocsvm", 0.60, None, None) | {"val_auroc": 0.99},
        _row(1, "flow:layout", 0.97, 0.02, 0.01) | {"val_auroc": 0.50},
    ]
    table = pd.DataFrame(rows).assign(auroc_ci_low=0.0, auroc_ci_high=1.0, auroc_gain_ci_high=1.0)
    chosen = validation_choice(table).set_index("normal")
    assert list(chosen["selected"]) == ["flow:layout", "ocsvm"]
    assert list(chosen["auroc"]) == [0.80, 0.60]
    assert list(chosen["best_on_test"]) == ["ocsvm", "flow:layout"]
    assert list(chosen["best_test_auroc"]) == [0.90, 0.97]
    # the deployed model score: validation's pick among model scores, never a baseline
    assert list(chosen["model_pick"]) == ["flow:layout", "flow:layout"]
    assert list(chosen["model_pick_auroc"]) == [0.80, 0.97]
    assert list(chosen["model_pick_gain"]) == [-0.1, 0.02]
    assert list(chosen["baseline_pick"]) == ["ocsvm", "ocsvm"]
    assert list(chosen["best_baseline_auroc"]) == [0.90, 0.60]
    overall = selection_summary(validation_choice(table)).set_index("dataset").loc["usps"]
    assert overall["runs"] == 2 and overall["model_pick"] == pytest.approx((0.80 + 0.97) / 2)
    assert overall["best_on_test"] == pytest.approx((0.90 + 0.97) / 2)
    # normal 1's interval [0.01, 1.0] lies above zero; normal 0's [-0.2, 1.0] spans it
    assert overall["ahead"] == 1 and overall["behind"] == 0
    assert validation_choice(table.drop(columns="val_auroc")).empty


def test_choices_without_labels_pick_on_synthetic_anomalies_or_keep_a_fixed_score():
    rows = [
        _row(0, "ocsvm", 0.90, None, None) | {"val_auroc": 0.70, "synthetic_auroc": 0.99},
        _row(0, "flow:layout", 0.80, -0.1, -0.2) | {"val_auroc": 0.95, "synthetic_auroc": 0.60},
        _row(0, "flow:bpd", 0.70, -0.2, -0.3) | {"val_auroc": 0.50, "synthetic_auroc": 0.90},
        _row(1, "flow:layout", 0.97, 0.02, 0.01) | {"val_auroc": 0.50, "synthetic_auroc": 0.80},
        _row(1, "flow:bpd", 0.85, 0.01, 0.005) | {"val_auroc": 0.60, "synthetic_auroc": 0.70},
    ]
    table = pd.DataFrame(rows).assign(auroc_gain_ci_high=[np.nan, 0.0, -0.1, 0.05, 0.02])
    chosen = no_label_choice(table, "pooled").set_index("normal")
    # the baseline's high synthetic AUROC does not matter: only model scores are deployed
    assert list(chosen["no_label_pick"]) == ["flow:bpd", "flow:layout"]
    assert list(chosen["validation_pick"]) == ["flow:layout", "flow:bpd"]
    assert chosen["regret_vs_best"].tolist() == pytest.approx([0.10, 0.0])
    assert chosen["regret_vs_validation"].tolist() == pytest.approx([0.10, -0.12])
    overall = regret_summary(no_label_choice(table)).set_index("dataset").loc["usps"]
    assert overall["runs"] == 2 and overall["worst_regret_vs_best"] == pytest.approx(0.10)
    assert (
        overall["ahead"] == 1 and overall["behind"] == 1
    )  # [0.01, 0.05] above, [-0.3, -0.1] below
    assert no_label_choice(table.drop(columns="synthetic_auroc")).empty
    kept = no_label_choice(table, "fixed:layout").set_index("normal")
    assert list(kept["no_label_pick"]) == ["flow:layout", "flow:layout"]
    assert kept["regret_vs_best"].tolist() == [0.0, 0.0]  # the best model score both times
    assert kept["regret_vs_validation"].tolist() == pytest.approx([0.0, -0.12])
    assert no_label_choice(table, "fixed:typicality").empty  # a score the runs do not have


def test_results_sections_are_replaced_in_place_and_the_rest_kept(tmp_path):
    path = tmp_path / "anomaly.md"
    path.write_text("# Anomaly\n\nCurated text.\n")
    update_results(path, "anomaly-medical", "## first\n\n| a |")
    update_results(path, "other", "## other")
    update_results(path, "anomaly-medical", "## second")
    text = path.read_text()
    assert text.startswith("# Anomaly\n\nCurated text.\n")
    assert "## second" in text and "## first" not in text and "## other" in text
    assert text.count("<!-- begin: anomaly-medical") == 1
    assert text.index("## second") < text.index("## other")  # replaced where it was


def test_ways_of_choosing_without_labels_are_ranked_by_validation_regret():
    rows = [  # the pooled number favours bpd, the worst kind favours layout
        _row(0, "flow:bpd", 0.60, 0.0, 0.0)
        | {"val_auroc": 0.70, "synthetic_auroc": 0.90, "synthetic_worst_kind_auroc": 0.40},
        _row(0, "flow:layout", 0.95, 0.0, 0.0)
        | {"val_auroc": 0.90, "synthetic_auroc": 0.80, "synthetic_worst_kind_auroc": 0.70},
        _row(0, "ocsvm", 0.99, None, None) | {"val_auroc": 0.99, "synthetic_auroc": 0.99},
    ]
    table = pd.DataFrame(rows)
    rules = rule_comparison(table).set_index("rule")
    # the synthetic columns this table has, and each model score kept fixed
    assert set(rules.index) == {"pooled", "worst-kind", "fixed:bpd", "fixed:layout"}
    assert rules.loc["pooled", "val_regret"] == pytest.approx(0.20)
    assert rules.loc["pooled", "test_regret"] == pytest.approx(0.35)
    assert rules.loc["worst-kind", "val_regret"] == 0.0  # baselines never count
    assert rules.loc["fixed:bpd", "val_regret"] == pytest.approx(0.20)
    other = table.assign(dataset="digits", val_auroc=[0.90, 0.80, 0.5])  # bpd wins here
    ranking = rule_ranking(rule_comparison(pd.concat([table, other]))).set_index("rule")
    assert ranking.loc["fixed:layout", "val_regret"] == pytest.approx(0.05)  # (0 + 0.10) / 2
    assert ranking.loc["fixed:layout", "worst_dataset_val_regret"] == pytest.approx(0.10)
    assert ranking.loc["fixed:bpd", "val_regret"] == pytest.approx(0.10)  # (0.20 + 0) / 2
    assert set(ranking.index[:2]) == {"worst-kind", "fixed:layout"}  # (0 + 0.1) / 2 for both


def test_the_maps_table_puts_the_model_free_reference_beside_each_map_kind():
    runs = pd.DataFrame(
        {
            "dataset": ["usps"] * 3,
            "model": ["flow"] * 3,
            "map_kind": ["layout", "layout", "gradient"],
            "map_pixel_auroc": [0.6, 0.8, 0.5],
            "map_pro": [0.2, 0.4, 0.1],
            "baseline_pixel_auroc": [0.7, 0.9, 0.75],
            "baseline_pro": [0.3, 0.5, 0.35],
            "model_map_pixel_auroc": [0.5, 0.7, 0.5],
            "selection_pixel_auroc": [0.65, 0.85, 0.6],
            "pixel_auroc.local-blur": [0.4, 0.6, 0.5],
        }
    )
    table = map_summary(runs).set_index("map_kind")
    assert table.loc["layout", "model_map_pixel_auroc"] == pytest.approx(0.6)
    assert table.loc["layout", "selection_pixel_auroc"] == pytest.approx(0.75)
    assert table.loc["layout", "pixel_auroc.local-blur"] == pytest.approx(0.5)
    assert table.loc["layout", "runs"] == 2
    assert table.loc["layout", "pixel_auroc"] == pytest.approx(0.7)
    assert table.loc["layout", "nearest_normal_pixel_auroc"] == pytest.approx(0.8)
    assert table.loc["gradient", "nearest_normal_pro"] == pytest.approx(0.35)
    summarized = map_summary(table.reset_index())  # a saved summary is read as it is
    assert list(summarized["pixel_auroc"]) == list(table["pixel_auroc"])


def test_the_deployed_score_is_the_confident_rules_pick_where_the_runs_measured_gains():
    """Normal 0: bpd beats the fixed layout on validation beyond chance, so it is deployed
    though typicality's validation AUROC is higher (its interval spans zero). Normal 1: no
    score beats layout beyond chance, so layout stays, not validation's best."""
    gains = {"val_gain_ci_low": [0.0, 0.01, -0.02, 0.0, -0.05, -0.01]}
    rows = [
        _row(0, "flow:layout", 0.80, -0.1, -0.2) | {"val_auroc": 0.70},
        _row(0, "flow:bpd", 0.90, 0.05, 0.02) | {"val_auroc": 0.80},
        _row(0, "flow:typicality", 0.60, -0.3, -0.4) | {"val_auroc": 0.85},
        _row(1, "flow:layout", 0.97, 0.02, 0.01) | {"val_auroc": 0.90},
        _row(1, "flow:bpd", 0.70, -0.2, -0.3) | {"val_auroc": 0.95},
        _row(1, "flow:typicality", 0.75, -0.2, -0.3) | {"val_auroc": 0.91},
    ]
    table = pd.DataFrame(rows).assign(
        auroc_ci_low=0.0, auroc_ci_high=1.0, auroc_gain_ci_high=[0.0, 0.08, -0.2, 0.03, 0, 0]
    )
    chosen = validation_choice(table.assign(**gains)).set_index("normal")
    assert list(chosen["model_pick"]) == ["flow:typicality", "flow:bpd"]
    assert list(chosen["deployed"]) == ["flow:bpd", "flow:layout"]
    assert list(chosen["deployed_auroc"]) == [0.90, 0.97]
    overall = selection_summary(validation_choice(table.assign(**gains))).iloc[0]
    assert overall["deployed"] == pytest.approx((0.90 + 0.97) / 2)
    assert overall["model_pick"] == pytest.approx((0.60 + 0.70) / 2)
    assert overall["ahead"] == 2 and overall["behind"] == 0  # both deployed gains above zero
    # runs that measured no gains deploy validation's best, as before the rule
    before = validation_choice(table).set_index("normal")
    assert list(before["deployed"]) == list(before["model_pick"])

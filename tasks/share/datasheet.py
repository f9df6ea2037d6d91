"""The datasheet that travels with a release: where the data came from (fingerprints and counts,
never the data), how it was made, what the audit measured, and what it is for."""

from __future__ import annotations

import json
import math
from typing import Any

DEFAULT_INTENDED_USE = (
    "Development and benchmarking of models on data resembling the source, where the source "
    "itself cannot be shared."
)
DEFAULT_LIMITS = (
    "Synthetic images follow the generative model, not the world: rare cases may be missing or "
    "distorted. Do not use for clinical decisions or to estimate prevalences. The privacy "
    "measures are empirical evidence against copying and membership leakage, not a guarantee "
    "(no differential privacy unless stated)."
)


def build_datasheet(
    *,
    name: str,
    version: int,
    source: dict[str, Any],
    model: dict[str, Any],
    synthetic: dict[str, Any],
    metrics: dict[str, float],
    gate: dict[str, Any],
    seed: int,
    spec_hash: str,
    intended_use: str = DEFAULT_INTENDED_USE,
    limits: str = DEFAULT_LIMITS,
) -> dict[str, Any]:
    """A JSON-serializable datasheet. ``source`` holds fingerprints and counts only."""
    return {
        "name": name,
        "version": version,
        "source": source,
        "model": model,
        "synthetic": synthetic,
        # JSON has no infinity: an unbounded value (dp_epsilon without DP) is the string "inf"
        "audit": {k: float(v) if math.isfinite(v) else str(float(v)) for k, v in metrics.items()},
        "gate": gate,
        "seed": seed,
        "spec_hash": spec_hash,
        "intended_use": intended_use,
        "limits": limits,
    }


_SECTIONS = (
    ("Utility (test on held-out real images)", ("utility_trtr", "utility_tstr", "utility_ratio")),
    (
        "Fidelity (features of a classifier trained on the real data)",
        ("precision", "recall", "density", "coverage", "frechet", "frechet_real_reference"),
    ),
    (
        "Privacy",
        (
            "memorization_rate",
            "dcr_ratio",
            "dcr_synthetic_median",
            "dcr_holdout_median",
            "membership_auc",
            "dp_epsilon",
        ),
    ),
    (
        "Compression",
        ("model_bytes", "dataset_bytes", "compression_ratio", "train_bpd", "code_length_bytes"),
    ),
)


def _number(value: float | str) -> str:
    return f"{value:.4g}" if isinstance(value, float | int) else str(value)


def to_markdown(sheet: dict[str, Any]) -> str:
    """The datasheet for people: the same content as the JSON, as Markdown."""
    lines = [f"# Datasheet: {sheet['name']} v{sheet['version']}", ""]
    lines += ["## Source (fingerprints only; no source data is included)", "", "```json"]
    lines += [json.dumps(sheet["source"], indent=2, sort_keys=True), "```", ""]
    lines += ["## How it was made", ""]
    for key, value in {
        **sheet["model"],
        "seed": sheet["seed"],
        "spec_hash": sheet["spec_hash"],
    }.items():
        lines.append(f"- {key}: {value}")
    for key, value in sheet["synthetic"].items():
        lines.append(f"- synthetic {key}: {value}")
    audit = sheet["audit"]
    for title, keys in _SECTIONS:
        lines += ["", f"## {title}", "", "| metric | value |", "|---|---|"]
        lines += [f"| {k} | {_number(audit[k])} |" for k in keys if k in audit]
    gate = sheet["gate"]
    lines += ["", "## Release gate", ""]
    lines += [f"- {k}: {v}" for k, v in gate.items()]
    lines += [
        "",
        "## Intended use",
        "",
        sheet["intended_use"],
        "",
        "## Limits",
        "",
        sheet["limits"],
    ]
    return "\n".join(lines) + "\n"

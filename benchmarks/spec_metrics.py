"""Every bundled spec's tiny run, its metrics saved or compared: a refactoring's safety net.

    .venv/bin/python benchmarks/spec_metrics.py --save before.json
    .venv/bin/python benchmarks/spec_metrics.py --compare before.json [--tolerance 1e-6]

Each spec runs through the command line (``priorworks run <spec> --preset tiny --retrain``, or
the extra overrides below for specs without a tiny preset) in a throwaway working folder with its
own SQLite store, so nothing touches ``./mlflow``. Every metric of every run (the pipeline run and
its nested runs, keyed by run name) is collected, wall-clock metrics aside (``*seconds*``), and the
printed results table is kept too. ``--compare`` fails (exit 1) on any metric or table cell that
differs by more than the tolerance, or on a run or metric present on one side only.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
# bundled specs without a tiny preset, shrunk here to seconds with overrides
EXTRA: dict[str, list[str]] = {
    "anomaly-pneumonia": [
        f"data.path={SHARED / 'medical' / 'pneumoniamnist.npz'}",
        "data.max_images=300",
        "model.params={num_scales: 2, hidden_channels: 8, num_blocks: 1, couplings_per_scale: 2}",
        "train.max_epochs=1",
        "task.baselines=[gmm, pca_reconstruction]",
        "task.bootstrap=50",
        "task.reference_fraction=0.3",
        f"task.background.data.path={SHARED / 'cifar10' / 'train_jpg.tar.gz'}",
        "task.background.data.max_images=60",
        "task.background.max_epochs=1",
        "output.sample_grid=4",
    ],
    "share-pneumonia": [
        f"data.path={SHARED / 'medical' / 'pneumoniamnist.npz'}",
        "data.max_images=150",
        "model.params={hidden_channels: 8, latent_dim: 4}",
        "train.max_epochs=1",
        "task.classifier={max_epochs: 1, patience: 0, width: 4}",
        "task.max_membership_images=50",
        "task.max_feature_images=50",
        "task.gate={max_memorization_rate: 1.0, max_membership_auc: 1.0}",
    ],
    "colorize-cifar10": [
        f"data.path={SHARED / 'cifar10' / 'train_jpg.tar.gz'}",
        "data.max_images=80",
        "model.params={num_scales: 1, hidden_channels: 8, num_blocks: 1, couplings_per_scale: 2}",
        "train.max_epochs=1",
        "task.test_images=4",
        "task.map_steps=3",
        "task.samples=2",
        "task.langevin_steps=3",
        "task.adapt_steps=1",
        "task.grid_images=2",
        "task.regressor={max_epochs: 1, patience: 0, width: 4}",
        "task.conditional={max_epochs: 1, patience: 0, hidden_channels: 4, context_channels: 4, "
        "num_blocks: 1, couplings_per_scale: 1, mean_samples: 2}",
    ],
}


def bundled_specs() -> list[str]:
    return sorted(p.stem for p in (ROOT / "pipelines" / "specs").glob("*.yaml"))


def _has_tiny(name: str) -> bool:
    import yaml

    tree = yaml.safe_load((ROOT / "pipelines" / "specs" / f"{name}.yaml").read_text())
    return "tiny" in (tree.get("presets") or {})


def run_spec(name: str) -> dict[str, Any]:
    """Run one spec in a throwaway folder; its metrics by run name and its results table."""
    from mlflow.tracking import MlflowClient

    args = ["--preset", "tiny"] if _has_tiny(name) else []
    for override in EXTRA.get(name, []):
        args += ["--set", override]
    with tempfile.TemporaryDirectory(prefix=f"spec-metrics-{name}-") as tmp:
        uri = f"sqlite:///{tmp}/mlflow.db"
        env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "PRIORWORKS_ARTIFACT_ROOT": ""}
        env.pop("PRIORWORKS_ARTIFACT_ROOT")
        cmd = [str(ROOT / ".venv" / "bin" / "priorworks"), "run", name, "--retrain", *args]
        done = subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True)
        if done.returncode not in (0, 3):  # 3: a share run whose release the gate refused
            raise SystemExit(f"{name}: exit {done.returncode}\n{done.stdout}\n{done.stderr}")
        client = MlflowClient(uri)
        runs: dict[str, dict[str, float]] = {}
        for exp in client.search_experiments():
            for run in client.search_runs([exp.experiment_id], max_results=10000):
                metrics = {k: v for k, v in run.data.metrics.items() if "seconds" not in k}
                key = run.info.run_name or run.info.run_id
                while key in runs:  # runs of the same name (seeds of one stage) keep their order
                    key += "'"
                runs[key] = metrics
        table = _printed_table(done.stdout)
    return {"exit_code": done.returncode, "runs": runs, "table": table}


def _printed_table(stdout: str) -> list[str]:
    """The results table the CLI printed (between the log and the 'MLflow run:' line), cells
    split on blanks, wall-clock columns (``*seconds*``) dropped."""
    lines = stdout.splitlines()
    end = next(i for i, line in enumerate(lines) if line.startswith("MLflow run:"))
    start = max(i for i in range(end) if not lines[i].strip() and i < end - 1)
    rows = [line.split() for line in lines[start:end] if line.strip()]
    keep = [i for i, name in enumerate(rows[0]) if "seconds" not in name]
    return [" ".join(row[i] for i in keep if i < len(row)) for row in rows]


def _differences(before: dict[str, Any], after: dict[str, Any], tol: float) -> list[str]:
    problems = []
    for spec in sorted(before.keys() | after.keys()):
        if spec not in before or spec not in after:
            problems.append(f"{spec}: only {'after' if spec in after else 'before'}")
            continue
        b, a = before[spec], after[spec]
        if b["exit_code"] != a["exit_code"]:
            problems.append(f"{spec}: exit code {b['exit_code']} -> {a['exit_code']}")
        if b["table"] != a["table"]:
            problems.append(f"{spec}: printed table differs")
        for run in sorted(b["runs"].keys() | a["runs"].keys()):
            mb, ma = b["runs"].get(run), a["runs"].get(run)
            if mb is None or ma is None:
                problems.append(f"{spec}/{run}: run only {'after' if mb is None else 'before'}")
                continue
            for metric in sorted(mb.keys() | ma.keys()):
                vb, va = mb.get(metric), ma.get(metric)
                if vb is None or va is None:
                    side = "after" if vb is None else "before"
                    problems.append(f"{spec}/{run}/{metric}: only {side}")
                elif not (math.isclose(vb, va, rel_tol=0, abs_tol=tol) or vb == va):
                    problems.append(f"{spec}/{run}/{metric}: {vb!r} -> {va!r}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--save", type=Path, help="write every spec's metrics to this JSON")
    group.add_argument("--compare", type=Path, help="compare with a JSON written by --save")
    parser.add_argument("--tolerance", type=float, default=1e-6)
    parser.add_argument("--specs", nargs="*", default=None, help="default: every bundled spec")
    args = parser.parse_args(argv)
    results = {}
    for name in args.specs or bundled_specs():
        results[name] = run_spec(name)
        n = sum(len(m) for m in results[name]["runs"].values())
        print(f"{name}: {len(results[name]['runs'])} runs, {n} metrics", flush=True)
    if args.save:
        args.save.write_text(json.dumps(results, indent=1, sort_keys=True))
        print(f"saved {args.save}")
        return 0
    before = json.loads(args.compare.read_text())
    if args.specs:
        before = {k: v for k, v in before.items() if k in args.specs}
    problems = _differences(before, results, args.tolerance)
    for line in problems:
        print(line)
    total = sum(len(m) for r in results.values() for m in r["runs"].values())
    verdict = "DIFFER" if problems else f"identical to {args.tolerance:g}"
    print(f"{len(results)} specs, {total} metrics: {verdict}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

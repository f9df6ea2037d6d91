"""The task registry is the one list of tasks: it lists exactly the folders under tasks/, each
folder holds its spec section and entry point, and a new folder is a new task (the example of
docs/adding-a-task.md, run end to end)."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from mlflow.tracking import MlflowClient

import tasks
from pipelines.cli import main
from pipelines.spec.loading import SPEC_DIR, load_spec
from tasks.registry import TaskDefinition, all_tasks, refresh
from tasks.spec import TaskSpec

ROOT = Path(__file__).resolve().parents[2]
EXTRA = Path(__file__).resolve().parents[1] / "fixtures" / "extra_tasks"


def test_the_registry_lists_exactly_the_task_folders():
    folders = {
        p.name for p in (ROOT / "tasks").iterdir() if p.is_dir() and (p / "__init__.py").is_file()
    }
    assert set(all_tasks()) == folders
    assert {"anomaly", "augment", "colorize", "share", "transfer"} <= folders


@pytest.mark.parametrize("name", sorted(all_tasks()))
def test_each_task_folder_reads_top_to_bottom(name):
    task = all_tasks()[name]
    folder = ROOT / "tasks" / name
    assert inspect.getmodule(task.spec).__name__ == f"tasks.{name}.spec"
    assert inspect.getmodule(task.run).__name__ == f"tasks.{name}.experiment"
    assert issubclass(task.spec, TaskSpec) and task.spec.model_fields["name"].default == name
    assert (folder / "spec.py").is_file() and (folder / "experiment.py").is_file()


@pytest.mark.parametrize("name", sorted(all_tasks()))
def test_each_task_has_a_bundled_spec_and_a_make_target(name):
    makefile = (ROOT / "Makefile").read_text()
    specs = [p.stem for p in SPEC_DIR.glob("*.yaml") if load_spec(p).task.name == name]
    assert specs, f"no bundled spec runs task '{name}'"
    assert any(f"priorworks run {s} " in makefile for s in specs), f"no make target for {name}"


def test_a_folder_that_is_not_a_task_is_refused(tmp_path, monkeypatch):
    (tmp_path / "halfdone").mkdir()
    (tmp_path / "halfdone" / "__init__.py").write_text('"""No TASK here yet."""\n')
    monkeypatch.setattr(tasks, "__path__", [*tasks.__path__, str(tmp_path)])
    try:
        with pytest.raises(TypeError, match="tasks/halfdone/ is a task folder.*TASK = "):
            refresh()
    finally:
        monkeypatch.undo()
        refresh()


def test_a_definition_whose_section_has_another_name_is_refused():
    class Other(TaskSpec):
        name: str = "other"

    with pytest.raises(ValueError, match="section Other is named 'other'"):
        TaskDefinition("mine", Other, lambda inputs: None, "")  # type: ignore[arg-type,return-value]


@pytest.fixture
def brightness_task(monkeypatch) -> Iterator[None]:
    """tests/fixtures/extra_tasks/brightness as if it were a folder under tasks/."""
    monkeypatch.setattr(tasks, "__path__", [*tasks.__path__, str(EXTRA)])
    refresh()
    yield
    monkeypatch.undo()
    refresh()


def test_a_new_task_folder_runs_end_to_end(brightness_task, mlflow_store, tmp_path, capsys):
    assert main(["tasks"]) == 0
    assert "brightness  the brightness of the model's samples" in capsys.readouterr().out
    spec = tmp_path / "brightness.yaml"
    spec.write_text(
        yaml.safe_dump(
            {
                "name": "brightness",
                "data": {"name": "digits"},
                "model": {"name": "gmm", "params": {"n_components": 2}},
                "task": {"name": "brightness", "samples": 16},
                "output": {"experiment": "brightness", "sample_grid": 0, "log_model": False},
            }
        )
    )
    assert main(["run", str(spec)]) == 0
    out = capsys.readouterr().out
    assert "mean brightness: test images" in out and "mean_brightness" in out
    client = MlflowClient(mlflow_store)
    experiment = client.get_experiment_by_name("brightness")
    runs = client.search_runs([experiment.experiment_id])
    parent = next(r for r in runs if "mlflow.parentRunId" not in r.data.tags)
    assert parent.info.status == "FINISHED" and parent.data.tags["task"] == "brightness"
    assert 0 <= parent.data.metrics["brightness_gap"] < 1
    assert parent.data.params["task.samples"] == "16" and parent.data.params["n_test"] == "540"
    tables = {a.path for a in client.list_artifacts(parent.info.run_id, "tables")}
    assert tables == {"tables/results.csv"}
    assert {r.info.run_name for r in runs} == {"brightness: gmm on digits", "train:gmm:model"}
    # its section's keys are checked like every task's
    assert main(["run", str(spec), "--set", "task.bogus=1"]) == 2
    err = capsys.readouterr().err
    assert "task.bogus: unknown key; allowed keys here: name, samples" in err

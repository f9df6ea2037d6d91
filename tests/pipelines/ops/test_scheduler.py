"""Scheduling: slots computed from the trigger, run at most once each, never overlapping."""

from __future__ import annotations

import itertools
import time
from datetime import UTC, datetime, timedelta

import pytest
from mlflow.tracking import MlflowClient

from pipelines.cli import main
from pipelines.errors import SpecError
from pipelines.ops.scheduler import (
    ScheduleEntry,
    build_scheduler,
    load_schedules,
    run_slot,
    slot_key,
    slot_time,
    spec_lock,
)

TINY_TRANSFER = """
schedules:
  - id: tiny
    spec: transfer
    preset: tiny
    interval_seconds: {interval}
    set: ["output.experiment=it-schedule"]
"""


def _file(tmp_path, interval=3600):
    path = tmp_path / "schedules.yaml"
    path.write_text(TINY_TRANSFER.format(interval=interval))
    return path


def _parent_runs(uri):
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("it-schedule")
    if exp is None:
        return []
    runs = client.search_runs([exp.experiment_id])
    return [r for r in runs if "mlflow.parentRunId" not in r.data.tags]


def test_slot_time_is_the_latest_fire_time_within_the_grace():
    entry = ScheduleEntry(id="n", spec="transfer", cron="0 2 * * *", misfire_grace_seconds=3600)
    at = datetime(2026, 11, 22, 2, 30, tzinfo=UTC)
    assert slot_time(entry, at) == datetime(2026, 11, 22, 2, 0, tzinfo=UTC)
    assert slot_time(entry, at + timedelta(hours=1)) is None  # missed beyond the grace: dropped
    assert slot_time(entry, datetime(2026, 11, 22, 2, 0, tzinfo=UTC)) is not None  # on the dot
    every = ScheduleEntry(id="i", spec="transfer", interval_seconds=600)
    assert slot_time(every, datetime(2026, 1, 1, 0, 17, tzinfo=UTC)) == datetime(
        2026, 1, 1, 0, 10, tzinfo=UTC
    )  # interval slots are aligned to a fixed epoch: the same across restarts


def test_each_slot_runs_once_even_when_triggered_again(mlflow_store, tmp_path):
    path = str(_file(tmp_path))
    now = datetime(2026, 11, 22, 10, 30, tzinfo=UTC)
    assert run_slot(path, "tiny", now, log=lambda _: None) == "ran"
    assert run_slot(path, "tiny", now + timedelta(minutes=5), log=lambda _: None) == "skipped"
    (run,) = _parent_runs(mlflow_store)
    entry = load_schedules(path).entry("tiny")
    assert run.data.tags["schedule_slot"] == slot_key(entry, datetime(2026, 11, 22, 10, tzinfo=UTC))
    assert run.data.tags["schedule_id"] == "tiny" and run.info.status == "FINISHED"
    assert run_slot(path, "tiny", now + timedelta(hours=1), log=lambda _: None) == "ran"
    assert len(_parent_runs(mlflow_store)) == 2


def test_a_spec_already_running_makes_the_slot_busy(mlflow_store, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the lock lives under ./mlflow/locks
    path = str(_file(tmp_path))
    now = datetime(2026, 11, 22, 10, 30, tzinfo=UTC)
    with spec_lock("transfer") as held:  # another entry or process is running the spec
        assert held
        assert run_slot(path, "tiny", now, log=lambda _: None) == "busy"
    assert _parent_runs(mlflow_store) == []
    assert run_slot(path, "tiny", now, log=lambda _: None) == "ran"  # the slot is still open


def test_a_live_scheduler_never_overlaps_and_never_repeats_a_slot(mlflow_store, tmp_path):
    path = _file(tmp_path, interval=1)  # a slot every second; a run takes several
    scheduler, known = build_scheduler(
        path, blocking=False, store_url=f"sqlite:///{tmp_path / 'j.db'}"
    )
    assert known == {"tiny"}
    scheduler.start()
    time.sleep(4)
    scheduler.shutdown(wait=True)
    runs = sorted(_parent_runs(mlflow_store), key=lambda r: r.info.start_time)
    assert runs, "the scheduler ran nothing"
    slots = [r.data.tags["schedule_slot"] for r in runs]
    assert len(slots) == len(set(slots))
    for before, after in itertools.pairwise(runs):
        assert before.info.end_time <= after.info.start_time  # one at a time


def test_list_shows_next_runs_and_bad_files_are_refused(mlflow_store, tmp_path, capsys):
    path = _file(tmp_path)
    store = f"sqlite:///{tmp_path / 'j.db'}"
    assert main(["schedule", "--file", str(path), "--list", "--jobstore", store]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith("tiny") and "transfer" in line and "next run: 20" in line
    bad = tmp_path / "bad.yaml"
    bad.write_text("schedules:\n  - {id: x, spec: no-such-spec, cron: '0 2 * * *'}\n")
    assert main(["schedule", "--file", str(bad), "--list"]) == 2
    assert "schedule 'x'" in capsys.readouterr().err
    both = tmp_path / "both.yaml"
    both.write_text(
        "schedules:\n  - {id: x, spec: transfer, cron: '0 2 * * *', interval_seconds: 5}\n"
    )
    with pytest.raises(SpecError, match="exactly one of cron, interval_seconds"):
        load_schedules(both)
    cron = tmp_path / "cron.yaml"
    cron.write_text("schedules:\n  - {id: x, spec: transfer, cron: '99 * * * *'}\n")
    with pytest.raises(SpecError, match="bad cron"):
        load_schedules(cron)

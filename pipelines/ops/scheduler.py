"""`priorworks schedule`: run pipeline specs on cron expressions (APScheduler).

A schedules file lists entries (``id``, ``spec``, ``cron`` or ``interval_seconds``, optional
``set`` overrides and ``preset``). Jobs live in a persistent SQLite job store beside the MLflow
store (``mlflow/scheduler.db``), so a restart keeps them.

Guarantees:
- a spec never overlaps itself: one entry has ``max_instances = 1`` (a slot that comes while the
  previous run is still going is skipped by the scheduler), and a per-spec file lock skips a slot
  whose spec is already running under another entry or another scheduler process on this host;
- each slot runs at most once: its idempotency key ``<id>@<slot time, UTC ISO>`` is tagged on the
  pipeline's MLflow run (``schedule_slot``), and a slot whose key is already on a FINISHED or
  RUNNING run is skipped, whatever restarted or caught up; a FAILED slot may run again;
- missed slots are coalesced: after downtime, at most one run catches up, and only within the
  entry's ``misfire_grace_seconds`` (default one hour); older slots are dropped.
"""

from __future__ import annotations

import fcntl
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from mlflow.tracking import MlflowClient
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from pipelines.errors import SpecError
from pipelines.spec.loading import load_spec
from pipelines.tracking.store import STORE_DIR, extra_tags, tracking_uri

#: Interval slots are aligned to this instant, so they are the same across restarts.
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


class ScheduleEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    spec: str
    cron: str | None = None  # five fields, UTC: "0 2 * * *" is 02:00 every day
    interval_seconds: int | None = Field(None, ge=1)
    set: list[str] = Field(default_factory=list)
    preset: str | None = None
    misfire_grace_seconds: int = Field(3600, ge=1)

    @model_validator(mode="after")
    def _one_trigger(self) -> ScheduleEntry:
        if (self.cron is None) == (self.interval_seconds is None):
            raise ValueError(f"schedule '{self.id}': give exactly one of cron, interval_seconds")
        if self.cron is not None:
            try:
                CronTrigger.from_crontab(self.cron, timezone=UTC)
            except ValueError as err:
                raise ValueError(f"schedule '{self.id}': bad cron '{self.cron}' ({err})") from None
        return self

    def trigger(self) -> BaseTrigger:
        if self.cron is not None:
            return CronTrigger.from_crontab(self.cron, timezone=UTC)
        assert self.interval_seconds is not None
        return IntervalTrigger(seconds=self.interval_seconds, start_date=EPOCH, timezone=UTC)


class SchedulesFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    schedules: list[ScheduleEntry] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_ids(self) -> SchedulesFile:
        ids = [e.id for e in self.schedules]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"schedule ids must be unique; repeated: {', '.join(dupes)}")
        return self

    def entry(self, entry_id: str) -> ScheduleEntry:
        for e in self.schedules:
            if e.id == entry_id:
                return e
        raise SpecError(f"no schedule '{entry_id}'; schedules: {[e.id for e in self.schedules]}")


def load_schedules(path: str | Path) -> SchedulesFile:
    """Read and validate a schedules file; every entry's spec (with its preset and overrides)
    must load, so a typo fails now, not at 2 am."""
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"{path}: schedules file not found")
    try:
        tree = yaml.safe_load(path.read_text()) or {}
        schedules = SchedulesFile.model_validate(tree)
    except yaml.YAMLError as err:
        raise SpecError(f"{path}: not valid YAML ({err})") from None
    except ValidationError as err:
        lines = [f"  {'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors()]
        raise SpecError(f"{path}: invalid schedules file\n" + "\n".join(lines)) from None
    for e in schedules.schedules:
        try:
            load_spec(e.spec, e.set, e.preset)
        except SpecError as err:
            raise SpecError(f"{path}: schedule '{e.id}': {err}") from None
    return schedules


def slot_time(entry: ScheduleEntry, now: datetime) -> datetime | None:
    """The latest fire time of ``entry`` at or before ``now`` within its misfire grace, or None."""
    trigger = entry.trigger()
    tick = timedelta(microseconds=1)
    t = trigger.get_next_fire_time(None, now - timedelta(seconds=entry.misfire_grace_seconds))
    last = None
    while t is not None and t <= now:
        last = t
        t = trigger.get_next_fire_time(t, t + tick)
    return last


def slot_key(entry: ScheduleEntry, slot: datetime) -> str:
    return f"{entry.id}@{slot.astimezone(UTC).isoformat()}"


def slot_taken(key: str) -> str | None:
    """The run id of a FINISHED or RUNNING pipeline run carrying this slot key, if any."""
    client = MlflowClient(tracking_uri())
    experiments = [e.experiment_id for e in client.search_experiments()]
    if not experiments:
        return None
    for run in client.search_runs(experiments, filter_string=f"tags.schedule_slot = '{key}'"):
        if run.info.status in ("FINISHED", "RUNNING") and "mlflow.parentRunId" not in run.data.tags:
            return str(run.info.run_id)
    return None


def run_slot(
    schedules_path: str, entry_id: str, now: datetime | None = None,
    log: Callable[[str], None] = print,
) -> str:  # fmt: skip
    """The scheduled job: run ``entry_id``'s spec for the current slot unless the slot already
    ran or the spec is running. Returns ``"ran"``, ``"skipped"``, ``"busy"`` or ``"no slot"``."""
    from pipelines.runner import run_pipeline

    entry = load_schedules(schedules_path).entry(entry_id)
    slot = slot_time(entry, now or datetime.now(UTC))
    if slot is None:
        log(f"schedule '{entry_id}': no slot within the misfire grace; nothing to run")
        return "no slot"
    key = slot_key(entry, slot)
    taken = slot_taken(key)
    if taken is not None:
        log(f"schedule '{entry_id}': slot {key} already ran (run {taken}); skipped")
        return "skipped"
    spec = load_spec(entry.spec, entry.set, entry.preset)
    with spec_lock(spec.name) as acquired:
        if not acquired:
            log(f"schedule '{entry_id}': spec '{spec.name}' is still running; slot {key} skipped")
            return "busy"
        with extra_tags({"schedule_id": entry.id, "schedule_slot": key}):
            result = run_pipeline(spec, log=log)
    log(f"schedule '{entry_id}': slot {key} -> run {result.run_id}")
    return "ran"


@contextmanager
def spec_lock(name: str) -> Iterator[bool]:
    """A non-blocking per-spec lock (``mlflow/locks/<spec>.lock``, ``flock``): True when held.

    Entries sharing a spec, or two scheduler processes on one host, never run it twice at once.
    """
    folder = STORE_DIR / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f"{name}.lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def jobstore_url() -> str:
    STORE_DIR.mkdir(exist_ok=True)
    return f"sqlite:///{(STORE_DIR / 'scheduler.db').resolve()}"


def build_scheduler(
    schedules_path: str | Path, blocking: bool = True, store_url: str | None = None
) -> tuple[BaseScheduler, set[str]]:
    """A scheduler with one job per entry (replacing jobs of the same id), and the entry ids."""
    schedules = load_schedules(schedules_path)
    cls: Any = BlockingScheduler if blocking else BackgroundScheduler
    scheduler: BaseScheduler = cls(
        jobstores={"default": SQLAlchemyJobStore(url=store_url or jobstore_url())}, timezone=UTC
    )
    path = str(Path(schedules_path).resolve())
    known = {e.id for e in schedules.schedules}
    for e in schedules.schedules:
        scheduler.add_job(
            run_slot,
            trigger=e.trigger(),
            args=[path, e.id],
            id=e.id,
            name=f"{e.id}: {e.spec}",
            replace_existing=True,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=e.misfire_grace_seconds,
        )
    return scheduler, known


def drop_stale_jobs(scheduler: BaseScheduler, known: set[str]) -> list[str]:
    """Remove jobs of the (started) store that the schedules file no longer lists."""
    stale = [job.id for job in scheduler.get_jobs() if job.id not in known]
    for job_id in stale:
        scheduler.remove_job(job_id)
    return stale


def next_runs(
    schedules_path: str | Path, store_url: str | None = None
) -> list[tuple[str, str, datetime | None]]:
    """``(id, spec, next run time)`` of every entry, computed without running anything."""
    scheduler, known = build_scheduler(schedules_path, blocking=False, store_url=store_url)
    scheduler.start(paused=True)
    try:
        drop_stale_jobs(scheduler, known)
        return [
            (job.id, job.name.split(": ", 1)[1], job.next_run_time) for job in scheduler.get_jobs()
        ]
    finally:
        scheduler.shutdown(wait=False)

"""Jobs share the cores: each busy priorworks job gets its part, re-checked as jobs come and go."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
import torch

import genmodels.threads as threads
import genmodels.training as training


@pytest.fixture
def jobs_folder(tmp_path):
    threads.leave()  # an in-process CLI test may have listed this process elsewhere
    before = torch.get_num_threads()
    yield tmp_path / "jobs"
    threads.leave()
    torch.set_num_threads(before)


def _sleeper() -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])


def test_a_user_thread_count_is_kept(jobs_folder):
    assert threads.join({"OMP_NUM_THREADS": "1"}, jobs_folder) is False
    assert not jobs_folder.exists()
    assert threads.share(force=True) == torch.get_num_threads()  # not joined: nothing changes


def test_busy_jobs_counts_live_recent_heartbeats_and_clears_dead_ones(jobs_folder):
    assert threads.join({}, jobs_folder)
    other, idle, gone = _sleeper(), _sleeper(), subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    try:
        for pid in (other.pid, idle.pid, gone.pid):
            (jobs_folder / str(pid)).touch()
        stale = time.time() - 2 * threads.BUSY_S
        os.utime(jobs_folder / str(idle.pid), (stale, stale))  # listed, but no recent heartbeat
        (jobs_folder / "not-a-pid").touch()
        assert threads.busy_jobs(jobs_folder) == 2  # this process and the sleeper that beats
        listed = sorted(p.name for p in jobs_folder.iterdir())
        assert listed == sorted(str(pid) for pid in (os.getpid(), other.pid, idle.pid))
    finally:
        for p in (other, idle):
            p.kill()
            p.wait()
    assert threads.busy_jobs(jobs_folder) == 1


def test_share_gives_each_job_its_part_of_the_cores_and_takes_them_back(jobs_folder, monkeypatch):
    monkeypatch.setattr(threads, "cores", lambda: 4)
    threads.join({}, jobs_folder)
    assert threads.share(force=True) == 4 and torch.get_num_threads() == 4  # alone: every core
    others = [_sleeper() for _ in range(2)]
    try:
        for p in others:
            (jobs_folder / str(p.pid)).touch()
        assert threads.share() == 4  # recounted at most once a second
        assert threads.share(force=True) == 1 and torch.get_num_threads() == 1  # 4 // 3 jobs
        others[0].kill()
        others[0].wait()
        assert threads.share(force=True) == 2  # one other left: 4 // 2
    finally:
        for p in others:
            p.kill()
            p.wait()
    assert threads.share(force=True) == 4
    threads.leave()
    assert list(jobs_folder.iterdir()) == []  # a job that leaves is no longer listed


def test_training_shares_the_cores_at_every_batch(monkeypatch):
    calls = []
    monkeypatch.setattr(training, "share", lambda: calls.append(1))
    callback = training.ShareCores()
    for _ in range(3):
        callback.on_train_batch_start()
    assert len(calls) == 3

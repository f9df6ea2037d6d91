"""The measuring tools of the speed suite measure what they claim (``make bench``)."""

from __future__ import annotations

import mmap
import time

import numpy as np
import pytest
import torch

from benchmarks.speed.common import RSSPeak, StepTimer, rss_mib
from benchmarks.speed.scaling import exponent


def test_the_fitted_exponent_recovers_known_power_laws():
    sizes = [1000, 4000, 16000]
    assert exponent(sizes, [2e-3 * n for n in sizes]) == pytest.approx(1.0)
    assert exponent(sizes, [1e-6 * n**2 for n in sizes]) == pytest.approx(2.0)
    assert exponent(sizes, [5.0 + 0 * n for n in sizes]) == pytest.approx(0.0, abs=1e-9)


def test_step_timer_splits_steps_into_work_and_waiting():
    timer = StepTimer(warmup=1)
    # batch k starts at 10k and ends at 10k + 8: 2 of every 10 time units are spent waiting
    timer.starts = [10.0 * k for k in range(6)]
    timer.ends = [10.0 * k + 8 for k in range(6)]
    timer.starts[0] = -50.0  # a slow first (warm-up) step is left out
    assert timer.step_s == pytest.approx(10.0)
    assert timer.wait_share == pytest.approx(0.2)


def test_rss_peak_sees_a_short_lived_allocation():
    before = rss_mib()
    with RSSPeak(interval=0.001) as memory:
        # 64 MiB of fresh pages, touched: mapped directly, not taken from malloc's heap, which
        # after other tests in this process may hold that much already resident
        block = mmap.mmap(-1, 64 * 2**20)
        np.frombuffer(block, dtype=np.uint8)[:] = 1
        time.sleep(0.05)  # held, the GIL released: the watcher samples it on a loaded machine
        block.close()
    assert memory.peak - before > 40
    assert rss_mib() < memory.peak


@pytest.mark.slow  # eight worker processes, each importing torch: about a minute
def test_contention_times_each_setting_and_job_count_against_one_default_job_alone():
    from benchmarks.speed.contention import SETTINGS, measure_contention

    table = measure_contention(("vae",), (1, 2), steps=2, warmup=1)
    assert len(table) == len(SETTINGS) * 2
    assert set(table["setting"]) == set(SETTINGS)
    alone = table[(table["setting"] == "default") & (table["jobs"] == 1)].iloc[0]
    assert alone["slowdown_vs_default_alone"] == 1.0
    one_thread = table[table["setting"] == "one-thread"]
    assert (one_thread["threads_per_job"] == 1).all()  # the environment reached the workers
    assert (table["worst_job_slowdown"] >= table["slowdown_vs_default_alone"] - 1e-12).all()


def test_roofline_counts_the_flops_and_bytes_of_a_known_layer():
    from benchmarks.speed.roofline import _counts

    layer, x = torch.nn.Linear(64, 32, bias=False), torch.randn(8, 64)
    with torch.no_grad():
        flops, moved = _counts(lambda: layer(x), 8)
    assert flops == 2 * 64 * 32  # one multiply-add per weight, per image
    # at least: reads the input and the weight, writes the output (float32), per image
    assert moved >= (8 * 64 + 64 * 32 + 8 * 32) * 4 / 8

"""Large blocks come from the heap, where freed ones are reused, instead of fresh mmaps."""

from __future__ import annotations

import os
import subprocess
import sys

from pipelines.ops.allocator import keep_freed_memory

_WHERE = """
import os, torch
from pipelines.ops.allocator import keep_freed_memory
tuned = keep_freed_memory(os.environ)
x = torch.ones(16 * 2**20)  # 64 MiB, as one scoring batch's activations might be
heap = [line.split()[0] for line in open("/proc/self/maps") if line.rstrip().endswith("[heap]")]
lo, hi = (int(v, 16) for v in heap[0].split("-"))
print(tuned, lo <= x.data_ptr() < hi)
"""


def _large_block(**env: str) -> tuple[str, str]:
    out = subprocess.run(
        [sys.executable, "-c", _WHERE],
        capture_output=True, text=True, timeout=120, env={**os.environ, **env},
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    tuned, in_heap = out.stdout.split()
    return tuned, in_heap


def test_a_large_block_comes_from_the_heap_unless_the_system_setting_is_asked_for():
    # glibc's default serves 64 MiB with its own mmap, unmapped again (and its pages faulted in
    # afresh) at every free; tuned, it is carved from the heap and reused
    assert _large_block() == ("True", "True")
    assert _large_block(PRIORWORKS_MALLOC="system") == ("False", "False")


def test_the_system_setting_changes_nothing():
    assert keep_freed_memory({"PRIORWORKS_MALLOC": "system"}) is False

"""Keep large freed blocks in the process instead of handing them back to the kernel.

glibc serves every allocation above its mmap threshold (128 KiB, rising to at most 32 MiB as
blocks are freed) with a fresh ``mmap``, and frees it with ``munmap``. A scoring batch allocates
activations of tens of MiB per layer, so every forward pass paid page faults and the zeroing of
fresh pages: on the 2-core box, RealNVP scored 520-590 images/s at batch 256 and the VAE (8
posterior draws) 490-550. With the thresholds raised to 1 GiB, freed blocks are reused: 840-900
and 1,430-1,490 (``benchmarks/NOTES.md``, section 11). Training steps (batch 64) were not
affected. The price: memory freed after a peak stays with the process for reuse instead of
returning to the system. Scoring 30,720 images in chunks of 512 held RSS flat either way, at 726
MiB against 637 (RealNVP) and 1,023 against 623 (VAE): the batch's working set stays resident.

``PRIORWORKS_MALLOC=system`` keeps glibc's defaults. Other C libraries are left alone.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Mapping

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameter numbers
THRESHOLD = 1 << 30


def keep_freed_memory(environ: Mapping[str, str]) -> bool:
    """Raise glibc's mmap and trim thresholds to :data:`THRESHOLD`; whether it was done."""
    if environ.get("PRIORWORKS_MALLOC", "") == "system":
        return False
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to tune
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, THRESHOLD)) and bool(
        mallopt(_M_TRIM_THRESHOLD, THRESHOLD)
    )

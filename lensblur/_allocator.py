"""The process's memory allocator: an opt-in setting for torch's large CPU tensors.

Only entry points that own their process call it (the ``lensblur`` command, the training modules run with
``python -m``); importing lensblur never changes the allocator.
"""

from __future__ import annotations

import ctypes
import sys

__all__ = ["keep_freed_memory"]

_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_MAX = -1, -2, -4  # glibc's mallopt parameters (malloc.h)


def keep_freed_memory() -> bool:
    """Make glibc's malloc keep freed memory for reuse instead of returning it to the kernel.

    By default every large tensor is its own mmap, unmapped when freed, so each network layer pays for
    fresh zeroed pages: measured here (benchmarks/bench_allocator.py), 29 % of a CPU refiner training
    step was kernel time (1.50 s a step instead of 1.06 s), and refining a 1536x2048 depth map took 9.8 s
    instead of 5.0 s. It costs some resident memory (freed blocks stay with the process). The same effect from
    the shell: ``MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=2147483647``. Returns whether the setting took
    (glibc on Linux only).
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # musl or another libc: leave its allocator alone
        return False
    return all(libc.mallopt(option, value) == 1 for option, value in
               ((_M_MMAP_MAX, 0), (_M_TRIM_THRESHOLD, 2**31 - 1), (_M_TOP_PAD, 1 << 28)))

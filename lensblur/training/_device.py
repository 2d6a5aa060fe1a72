"""The hardware side of training: how a report names the device, and the CPU allocator setting."""

from __future__ import annotations

import ctypes
import os
import platform
import sys

import torch

__all__ = ["device_name", "keep_freed_memory"]

_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_MAX = -1, -2, -4  # glibc's mallopt parameters (malloc.h)


def keep_freed_memory() -> bool:
    """Make glibc's malloc keep freed memory for reuse instead of returning it to the kernel.

    By default every large tensor is its own mmap, unmapped when freed, so each training step pays for
    fresh zeroed pages: measured here, 30 % of a CPU refiner training run was kernel time, and a step took
    1.57 s instead of 1.03 s. Training processes call this at start-up; the library never does it on
    import (it is process-wide). The same effect from the shell: ``MALLOC_MMAP_MAX_=0
    MALLOC_TRIM_THRESHOLD_=2147483647``. Returns whether the setting took (glibc on Linux only).
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # musl or another libc: leave its allocator alone
        return False
    return all(libc.mallopt(option, value) == 1 for option, value in
               ((_M_MMAP_MAX, 0), (_M_TRIM_THRESHOLD, 2**31 - 1), (_M_TOP_PAD, 1 << 28)))


def device_name(device: torch.device) -> str:
    """The GPU's name, or the CPU's architecture, core count and torch version."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}"

"""Kernel-image apertures on the CPU: run tables per radius bin, and the dilated defocus map."""

from __future__ import annotations

import numpy as np

from ...optics.kernel_image import footprint_runs, radius_bin
from ...types import Aperture

__all__ = ["kernel_tables", "dilated_coc_kernel_image"]


def kernel_tables(coc: np.ndarray, aperture: Aperture) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
    """Per-pixel radius bin (numbered densely over the bins in use) and those bins' run tables."""
    bins = radius_bin(coc)
    # the bins in use, numbered densely: a counting pass (bins are small ints), not np.unique's sort
    # (0.24 s on a 1920x1080 map)
    used = np.flatnonzero(np.bincount(bins.ravel()))
    dense = np.zeros(int(bins.max()) + 1, dtype=np.int64)
    dense[used] = np.arange(used.size)
    return dense[bins], footprint_runs(aperture, used)


def dilated_coc_kernel_image(coc: np.ndarray, aperture: Aperture) -> np.ndarray:
    """BokehMe's dilated signed defocus for a kernel-image aperture; returns (H, W) int32."""
    from .._kernels.scatter_numba import dilate_runs

    bin_index, (start, run_dy, run_x0, run_x1, _) = kernel_tables(coc, aperture)
    reach = int(np.abs(run_dy).max()) + 1 if run_dy.size else 1
    out = np.empty(coc.shape, dtype=np.int32)
    dilate_runs(np.ascontiguousarray(coc, dtype=np.float32), bin_index, start, run_dy, run_x0, run_x1, 32,
                reach, out)
    return out

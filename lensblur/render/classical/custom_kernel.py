"""Scatter with a kernel-image aperture, on the CPU (numba run tables)."""

from __future__ import annotations

import numpy as np

from ...optics.kernel_image import footprint_runs, radius_bin
from ...types import Aperture

__all__ = ["scatter_kernel_image", "dilated_coc_kernel_image"]


def _tables(coc: np.ndarray, aperture: Aperture):
    bins = radius_bin(coc)
    used, compact = np.unique(bins, return_inverse=True)
    start, run_dy, run_x0, run_x1, run_value = footprint_runs(aperture, used)
    reach = int(np.abs(run_dy).max()) + 1 if run_dy.size else 1
    return compact.reshape(coc.shape).astype(np.int64), start, run_dy, run_x0, run_x1, run_value, reach


def scatter_kernel_image(image: np.ndarray, coc: np.ndarray, aperture: Aperture, *, progress: bool = False) -> np.ndarray:
    """Normalised scatter of ``image`` (3, H, W) with a kernel-image aperture; returns (3, H, W)."""
    from .._kernels.scatter_numba import scatter_runs

    bin_index, start, run_dy, run_x0, run_x1, run_value, reach = _tables(coc, aperture)
    out = np.empty(image.shape, dtype=np.float32)
    height = coc.shape[0]
    scatter_runs(np.ascontiguousarray(image, dtype=np.float32), np.ascontiguousarray(coc, dtype=np.float32),
                 bin_index, start, run_dy, run_x0, run_x1, run_value, 0, height, 32, reach, out)
    return out


def dilated_coc_kernel_image(coc: np.ndarray, aperture: Aperture) -> np.ndarray:
    """BokehMe's dilated signed defocus for a kernel-image aperture; returns (H, W) int32."""
    from .._kernels.scatter_numba import dilate_runs

    bin_index, start, run_dy, run_x0, run_x1, _, reach = _tables(coc, aperture)
    out = np.empty(coc.shape, dtype=np.int32)
    dilate_runs(np.ascontiguousarray(coc, dtype=np.float32), bin_index, start, run_dy, run_x0, run_x1, 32,
                reach, out)
    return out

"""Custom aperture images (a heart, a cat's eye, a bright-rimmed soap bubble) as footprints.

A kernel image's bounding square (its larger side, centred) is scaled to the blur diameter 2·rho. The
coverage of pixel (dx, dy) is the mean of the image (scaled to a maximum of 1) over that pixel's
square, computed exactly for the piecewise-constant image through its integral image. Radii are
quantised to ``RADIUS_STEP_PX`` for the shape (the weight 1/(r² + 0.2) keeps the exact radius), so a
render needs one resampled footprint per distinct radius bin.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from ..types import Aperture
from .apertures import MIN_RADIUS_PX

__all__ = ["RADIUS_STEP_PX", "radius_bin", "bin_radius", "kernel_footprint", "footprint_runs"]

RADIUS_STEP_PX = 0.25


def radius_bin(radius_px: np.ndarray | float) -> np.ndarray:
    """Index of the radius bin of |radius| (rho = max(|r|, 0.5) rounded to RADIUS_STEP_PX)."""
    rho = np.maximum(np.abs(radius_px), MIN_RADIUS_PX)
    return np.rint((rho - MIN_RADIUS_PX) / RADIUS_STEP_PX).astype(np.int64)


def bin_radius(index: int) -> float:
    """The footprint radius rho of a radius bin."""
    return MIN_RADIUS_PX + index * RADIUS_STEP_PX


def _integral(kernel: np.ndarray) -> tuple[np.ndarray, int]:
    k = np.asarray(kernel, dtype=np.float64)
    side = max(k.shape)
    square = np.zeros((side, side))
    oy, ox = (side - k.shape[0]) // 2, (side - k.shape[1]) // 2
    square[oy:oy + k.shape[0], ox:ox + k.shape[1]] = k / k.max()
    integral = np.zeros((side + 1, side + 1))
    integral[1:, 1:] = square.cumsum(0).cumsum(1)
    return integral, side


def _box_mean(integral: np.ndarray, side: int, x0: np.ndarray, x1: np.ndarray, y0: float, y1: float) -> np.ndarray:
    """Integral of the piecewise-constant square image over [x0, x1] x [y0, y1] (image px units)."""

    def cum(y: float, x: np.ndarray) -> np.ndarray:
        # bilinear interpolation of the integral image is exact for a piecewise-constant image
        y = min(max(y, 0.0), float(side))
        x = np.clip(x, 0.0, float(side))
        iy = min(int(y), side - 1)
        ix = np.minimum(x.astype(np.int64), side - 1)
        fy, fx = y - iy, x - ix
        top = integral[iy, ix] * (1 - fx) + integral[iy, ix + 1] * fx
        bottom = integral[iy + 1, ix] * (1 - fx) + integral[iy + 1, ix + 1] * fx
        return top * (1 - fy) + bottom * fy

    return cum(y1, x1) - cum(y0, x1) - cum(y1, x0) + cum(y0, x0)


def kernel_footprint(kernel: np.ndarray, rho: float) -> tuple[int, np.ndarray]:
    """Coverage of a kernel-image aperture of radius rho: ``(half, cover)``, cover is (2h+1, 2h+1)."""
    integral, side = _integral(kernel)
    half = int(math.ceil(rho + 0.5))
    scale = side / (2.0 * rho)  # kernel px per image px
    offsets = np.arange(-half, half + 1, dtype=np.float64)
    x0 = (offsets - 0.5 + rho) * scale
    x1 = (offsets + 0.5 + rho) * scale
    cover = np.empty((2 * half + 1, 2 * half + 1))
    for i, dy in enumerate(offsets):
        y0 = (dy - 0.5 + rho) * scale
        y1 = (dy + 0.5 + rho) * scale
        cover[i] = _box_mean(integral, side, x0, x1, y0, y1) / (scale * scale)
    cover[cover < 1e-7] = 0.0
    return half, cover


def footprint_runs(aperture: Aperture, bins: np.ndarray) -> tuple[np.ndarray, ...]:
    """Run tables for the given radius bins: each footprint row cut into runs of equal coverage.

    Returns ``(start, dy, x0, x1, value)``: runs of bin ``bins[k]`` are ``start[k]:start[k+1]``; a run
    covers columns x0..x1 (inclusive, offsets from the source) of row offset dy with coverage value.
    """
    if aperture.kernel is None:
        raise ValueError("footprint_runs needs an Aperture with a kernel image")
    key = aperture.kernel.tobytes(), aperture.kernel.shape
    parts = [_runs_for_bin(key, int(b)) for b in bins]
    start = np.zeros(len(bins) + 1, dtype=np.int64)
    start[1:] = np.cumsum([p[0].shape[0] for p in parts])
    cat = [np.concatenate([p[i] for p in parts]) if parts else np.zeros(0) for i in range(4)]
    return (start, cat[0].astype(np.int64), cat[1].astype(np.int64), cat[2].astype(np.int64),
            cat[3].astype(np.float32))


@lru_cache(maxsize=4096)
def _runs_for_bin(key: tuple[bytes, tuple[int, int]], index: int) -> tuple[np.ndarray, ...]:
    kernel = np.frombuffer(key[0], dtype=np.float64).reshape(key[1])
    half, cover = kernel_footprint(kernel, bin_radius(index))
    cover = cover.astype(np.float32)
    dys, x0s, x1s, values = [], [], [], []
    for i in range(cover.shape[0]):
        row = cover[i]
        x = 0
        while x < row.shape[0]:
            end = x
            while end + 1 < row.shape[0] and row[end + 1] == row[x]:
                end += 1
            if row[x] > 0:
                dys.append(i - half)
                x0s.append(x - half)
                x1s.append(end - half)
                values.append(row[x])
            x = end + 1
    return (np.array(dys, dtype=np.int64), np.array(x0s, dtype=np.int64), np.array(x1s, dtype=np.int64),
            np.array(values, dtype=np.float32))

"""Naive O(r^2) per-pixel scatters, the baselines the row-span kernel is measured against.

Both are band-parallel numba like the fast kernel, with the bands dealt out to the threads in turn as
the fast kernel deals them, so the comparison is about the algorithm.
"""

import math

import numba
import numpy as np


@numba.njit(parallel=True, fastmath=True, cache=True)
def naive_same_kernel(image, coc, ymin, ymax, cxl, cxr, band_rows, reach, out, workers):
    """Every footprint pixel written one by one, with lensblur's anti-aliased coverage."""
    height, width = coc.shape
    n = cxl.shape[0]
    to_index = (n - 1) / (ymax - ymin)
    n_bands = (height + band_rows - 1) // band_rows
    for worker in numba.prange(min(n_bands, workers)):
        for band in range(worker, n_bands, min(n_bands, workers)):
            y0 = band * band_rows
            y1 = min(height, y0 + band_rows)
            acc = np.zeros((y1 - y0, width, 4), dtype=np.float32)
            for sy in range(max(0, y0 - reach), min(height, y1 + reach)):
                for sx in range(width):
                    r = abs(coc[sy, sx])
                    rho = max(r, 0.5)
                    weight = 1.0 / (r * r + 0.2)
                    dy_lo = int(math.floor(rho * ymin - 0.5)) + 1
                    dy_hi = int(math.ceil(rho * ymax + 0.5)) - 1
                    for ty in range(max(y0, sy + dy_lo), min(y1 - 1, sy + dy_hi) + 1):
                        dy = ty - sy
                        t0 = max((dy - 0.5) / rho, ymin)
                        t1 = min((dy + 0.5) / rho, ymax)
                        if t1 - t0 <= 1e-12:
                            continue
                        u0 = (t0 - ymin) * to_index
                        u1 = (t1 - ymin) * to_index
                        i0 = min(int(u0), n - 2)
                        i1 = min(int(u1), n - 2)
                        f0 = u0 - i0
                        f1 = u1 - i1
                        scale = rho / (t1 - t0)
                        xl = ((cxl[i1] + (cxl[i1 + 1] - cxl[i1]) * f1) - (cxl[i0] + (cxl[i0 + 1] - cxl[i0]) * f0)) * scale
                        xr = ((cxr[i1] + (cxr[i1 + 1] - cxr[i1]) * f1) - (cxr[i0] + (cxr[i0 + 1] - cxr[i0]) * f0)) * scale
                        length = (t1 - t0) * rho
                        for tx in range(max(0, sx + int(math.floor(xl + 0.5))), min(width, sx + int(math.floor(xr + 0.5)) + 1)):
                            dx = tx - sx
                            cover = min(xr, dx + 0.5) - max(xl, dx - 0.5)
                            if cover > 0.0:
                                w = np.float32(weight * length * cover)
                                acc[ty - y0, tx, 0] += image[0, sy, sx] * w
                                acc[ty - y0, tx, 1] += image[1, sy, sx] * w
                                acc[ty - y0, tx, 2] += image[2, sy, sx] * w
                                acc[ty - y0, tx, 3] += w
            _normalise(acc, out, y0)


@numba.njit(parallel=True, fastmath=True, cache=True)
def naive_bokehme_tanh(image, coc, band_rows, reach, out, workers):
    """BokehMe's CUDA kernel on the CPU: square loop, weight (0.5 + 0.5 tanh(4 (r - d))) / (r^2 + 0.2)."""
    height, width = coc.shape
    n_bands = (height + band_rows - 1) // band_rows
    for worker in numba.prange(min(n_bands, workers)):
        for band in range(worker, n_bands, min(n_bands, workers)):
            y0 = band * band_rows
            y1 = min(height, y0 + band_rows)
            acc = np.zeros((y1 - y0, width, 4), dtype=np.float32)
            for sy in range(max(0, y0 - reach), min(height, y1 + reach)):
                for sx in range(width):
                    r = abs(coc[sy, sx])
                    weight = 1.0 / (r * r + 0.2)
                    half = int(r) + 1
                    for ty in range(max(y0, sy - half), min(y1, sy + half + 1)):
                        for tx in range(max(0, sx - half), min(width, sx + half + 1)):
                            d = math.sqrt((tx - sx) ** 2 + (ty - sy) ** 2)
                            w = np.float32((0.5 + 0.5 * math.tanh(4.0 * (r - d))) * weight)
                            acc[ty - y0, tx, 0] += image[0, sy, sx] * w
                            acc[ty - y0, tx, 1] += image[1, sy, sx] * w
                            acc[ty - y0, tx, 2] += image[2, sy, sx] * w
                            acc[ty - y0, tx, 3] += w
            _normalise(acc, out, y0)


@numba.njit(cache=True)
def _normalise(acc, out, y0):
    """Divide each pixel's colour sums by its weight sum."""
    for i in range(acc.shape[0]):
        for x in range(acc.shape[1]):
            for c in range(3):
                out[c, y0 + i, x] = acc[i, x, c] / acc[i, x, 3]

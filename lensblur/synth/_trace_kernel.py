"""The numba kernel of the thin-lens layer tracer (see ``synth.raytrace`` for the model)."""

from __future__ import annotations

import math

import numba
import numpy as np

_MAX_LAYERS = 32


@numba.njit(cache=True, inline="always")
def _box_mean(tex, sat, layer, cx, cy, half, out):
    """Mean of layer ``layer``'s piecewise-constant texels over the square [c - half, c + half]^2.

    Coordinates are padded-canvas pixel coordinates (texel j covers [j - 0.5, j + 0.5]). Boxes are
    clamped to the canvas; big boxes go through the summed-area table (bilinear reads of it are exact
    for piecewise-constant texels), boxes under a pixel read the at most 2 x 2 texels directly, which
    avoids the cancellation of large table values.
    """
    hp = tex.shape[1]
    wp = tex.shape[2]
    n = tex.shape[3]
    x0 = min(max(cx - half + 0.5, 0.0), wp - 1e-9)
    x1 = min(max(cx + half + 0.5, 0.0), wp - 1e-9)
    y0 = min(max(cy - half + 0.5, 0.0), hp - 1e-9)
    y1 = min(max(cy + half + 0.5, 0.0), hp - 1e-9)
    if x1 - x0 < 1e-9 or y1 - y0 < 1e-9:  # a point (in focus), or a box squeezed against the canvas edge
        ix = int(0.5 * (x0 + x1))
        iy = int(0.5 * (y0 + y1))
        for k in range(n):
            out[k] = tex[layer, iy, ix, k]
        return
    if half < 0.5:
        ix0 = int(x0)
        iy0 = int(y0)
        ix1 = min(int(x1), wp - 1)
        iy1 = min(int(y1), hp - 1)
        wx0 = (min(x1, ix0 + 1.0) - x0) / (x1 - x0)
        wy0 = (min(y1, iy0 + 1.0) - y0) / (y1 - y0)
        wx1 = 1.0 - wx0 if ix1 > ix0 else 0.0
        wy1 = 1.0 - wy0 if iy1 > iy0 else 0.0
        if ix1 == ix0:
            wx0 = 1.0
        if iy1 == iy0:
            wy0 = 1.0
        for k in range(n):
            out[k] = (wy0 * (wx0 * tex[layer, iy0, ix0, k] + wx1 * tex[layer, iy0, ix1, k])
                      + wy1 * (wx0 * tex[layer, iy1, ix0, k] + wx1 * tex[layer, iy1, ix1, k]))
        return
    inv_area = 1.0 / ((x1 - x0) * (y1 - y0))
    jx0 = int(x0)
    jx1 = int(x1)
    jy0 = int(y0)
    jy1 = int(y1)
    fx0 = x0 - jx0
    fx1 = x1 - jx1
    fy0 = y0 - jy0
    fy1 = y1 - jy1
    for k in range(n):
        g11 = ((sat[layer, jy1, jx1, k] * (1 - fx1) + sat[layer, jy1, jx1 + 1, k] * fx1) * (1 - fy1)
               + (sat[layer, jy1 + 1, jx1, k] * (1 - fx1) + sat[layer, jy1 + 1, jx1 + 1, k] * fx1) * fy1)
        g01 = ((sat[layer, jy1, jx0, k] * (1 - fx0) + sat[layer, jy1, jx0 + 1, k] * fx0) * (1 - fy1)
               + (sat[layer, jy1 + 1, jx0, k] * (1 - fx0) + sat[layer, jy1 + 1, jx0 + 1, k] * fx0) * fy1)
        g10 = ((sat[layer, jy0, jx1, k] * (1 - fx1) + sat[layer, jy0, jx1 + 1, k] * fx1) * (1 - fy0)
               + (sat[layer, jy0 + 1, jx1, k] * (1 - fx1) + sat[layer, jy0 + 1, jx1 + 1, k] * fx1) * fy0)
        g00 = ((sat[layer, jy0, jx0, k] * (1 - fx0) + sat[layer, jy0, jx0 + 1, k] * fx0) * (1 - fy0)
               + (sat[layer, jy0 + 1, jx0, k] * (1 - fx0) + sat[layer, jy0 + 1, jx0 + 1, k] * fx0) * fy0)
        out[k] = (g11 - g01 - g10 + g00) * inv_area


@numba.njit(cache=True, inline="always")
def _insert_nearest_first(order, count, disparity, i):
    """Insert layer i into ``order[:count]`` (sorted by disparity, largest = nearest first)."""
    k = count
    while k > 0 and disparity[order[k - 1]] < disparity[i]:
        order[k] = order[k - 1]
        k -= 1
    order[k] = i


@numba.njit(cache=True, inline="always")
def _alpha_in_box(sat, layer, x0, x1, y0, y1):
    """Summed alpha (last channel) of the texels overlapping [x0, x1] x [y0, y1] (padded coords)."""
    hp = sat.shape[1] - 1
    wp = sat.shape[2] - 1
    a = sat.shape[3] - 1
    ix0 = min(max(int(math.floor(x0 + 0.5)), 0), wp)
    ix1 = min(max(int(math.floor(x1 + 0.5)) + 1, 0), wp)
    iy0 = min(max(int(math.floor(y0 + 0.5)), 0), hp)
    iy1 = min(max(int(math.floor(y1 + 0.5)) + 1, 0), hp)
    return sat[layer, iy1, ix1, a] - sat[layer, iy0, ix1, a] - sat[layer, iy1, ix0, a] + sat[layer, iy0, ix0, a]


@numba.njit(cache=True, parallel=True, fastmath=False)
def trace(tex, sat, planes, strength, focus, margin, grids, cell_start, cells, out):
    """Defocused image: out[y, x, :n-1] = aperture-weighted mean of the front-to-back composite.

    ``cells`` rows are (u, v, weight) of the aperture cells of an m x m grid over [-1, 1]^2, those of
    grid m at rows ``cell_start[m]:cell_start[m+1]``; pixel (y, x) uses grid ``grids[y, x]``. The ray of pixel p through aperture point u meets
    the plane d(q) = a + g·q at q = p + K·(d(q) − d_f)·u (solved in closed form below).
    """
    height, width = out.shape[0], out.shape[1]
    n_layers = planes.shape[0]
    n = tex.shape[3]
    for y in numba.prange(height):
        active = np.empty(_MAX_LAYERS, np.int64)
        order = np.empty(_MAX_LAYERS, np.int64)
        hit_x = np.empty(_MAX_LAYERS)
        hit_y = np.empty(_MAX_LAYERS)
        hit_d = np.empty(_MAX_LAYERS)
        sample = np.empty(n)
        acc = np.empty(n)
        for x in range(width):
            # layers whose footprint around this pixel holds no alpha at all are skipped (the same test
            # as raytrace._reach_px, widened by one more pixel: slanted planes change r along the ray)
            n_active = 0
            for i in range(n_layers):
                a, b, c = planes[i, 0], planes[i, 1], planes[i, 2]
                r = abs(strength * (a + b * x + c * y - focus))
                r = r * (1.0 + abs(strength) * (abs(b) + abs(c))) + 1.0
                if _alpha_in_box(sat, i, x + margin - r - 1.0, x + margin + r + 1.0,
                                 y + margin - r - 1.0, y + margin + r + 1.0) > 0.0:
                    active[n_active] = i
                    n_active += 1
            m = grids[y, x]
            for k in range(n):
                acc[k] = 0.0
            weight_sum = 0.0
            for j in range(cell_start[m], cell_start[m + 1]):
                u = cells[j, 0]
                v = cells[j, 1]
                w = cells[j, 2]
                for t in range(n_active):
                    i = active[t]
                    a, b, c = planes[i, 0], planes[i, 1], planes[i, 2]
                    # q = P + K·u·(g·P) / (1 − K·g·u) with P = p + K·(a − d_f)·u (Sherman–Morrison)
                    px = x + strength * (a - focus) * u
                    py = y + strength * (a - focus) * v
                    denom = 1.0 - strength * (b * u + c * v)
                    if abs(denom) < 1e-6:
                        denom = 1e-6
                    s = strength * (b * px + c * py) / denom
                    hit_x[i] = px + s * u
                    hit_y[i] = py + s * v
                    hit_d[i] = a + b * hit_x[i] + c * hit_y[i]
                    _insert_nearest_first(order, t, hit_d, i)
                transmittance = 1.0
                for t in range(n_active):
                    i = order[t]
                    half = abs(strength * (hit_d[i] - focus)) / m
                    _box_mean(tex, sat, i, hit_x[i] + margin, hit_y[i] + margin, half, sample)
                    alpha = sample[n - 1]
                    if alpha <= 0.0:
                        continue
                    for k in range(n - 1):
                        acc[k] += w * transmittance * sample[k]
                    transmittance *= 1.0 - alpha
                    if transmittance < 1e-6:
                        break
                weight_sum += w
            for k in range(n - 1):
                out[y, x, k] = acc[k] / weight_sum


@numba.njit(cache=True, parallel=True)
def pinhole(tex, planes, margin, out, disparity):
    """All-in-focus composite at pixel centres and the front-most disparity (first layer with alpha >= 0.5)."""
    height, width = out.shape[0], out.shape[1]
    n_layers = planes.shape[0]
    n = tex.shape[3]
    for y in numba.prange(height):
        d = np.empty(n_layers)
        order = np.empty(n_layers, np.int64)
        for x in range(width):
            for i in range(n_layers):
                d[i] = planes[i, 0] + planes[i, 1] * x + planes[i, 2] * y
                _insert_nearest_first(order, i, d, i)
            transmittance = 1.0
            found = False
            for k in range(n - 1):
                out[y, x, k] = 0.0
            for t in range(n_layers):
                i = order[t]
                alpha = tex[i, y + margin, x + margin, n - 1]
                if alpha <= 0.0:
                    continue
                if not found and alpha >= 0.5:
                    found = True
                    disparity[y, x] = d[i]
                for k in range(n - 1):
                    out[y, x, k] += transmittance * tex[i, y + margin, x + margin, k]
                transmittance *= 1.0 - alpha
                if transmittance < 1e-6:
                    break
            if not found:
                disparity[y, x] = d[order[n_layers - 1]]

"""Row-span normalised scatter on the CPU (numba).

Same semantics as ``render.classical.scatter.scatter_reference``, at O(r) instead of O(r^2) work per
source: each strip of a source's footprint (see ``optics.apertures``) is one run of fully covered
pixels plus one partial pixel at each end. A run is written as two signed deltas into a row buffer,
each partial pixel as a +/- pair, and one prefix sum per row turns the deltas back into sums.

Parametric apertures (``scatter_spans``): the output rows are cut into one chunk per thread of about
equal work (blur, and with it the cost, changes down a photo), and each thread runs a GIL-free kernel
on its chunk, so no atomics are needed. A thread sweeps the sources that can reach its chunk in row
order into a ring of buffer rows: once source row sy is in, output row sy - reach + 1 can receive
nothing more, so it is normalised and its buffer row reused. Each footprint is thus visited once per
chunk (the earlier 32-row bands cut most footprints at radius 25 into two or three pieces, each
paying its own set-up), and for shapes symmetric about the horizontal axis the strips at row offsets
j and -j are computed once and written twice. The sweep goes tile by tile (up to 960 columns) so that the
ring stays in the core's L2 cache. 1.4x faster than the banded kernel at radius 25 on 1080p.

Kernel-image apertures (``scatter_runs``) use the same layout, with each footprint row given as runs of
equal coverage. The dilated defocus map (``dilate_signed``, ``dilate_runs``): bands of output rows, each
owning its buffer, dealt out to numba's threads in turn (thread t renders bands t, t + T, ...).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import functools
import math

import numba
import numpy as np

from ...optics import apertures
from ...types import Aperture

# the definition's own helpers, compiled: the dilated map repeats apertures.row_span's arithmetic exactly
_lerp_nb = numba.njit(cache=True)(apertures._lerp)
_row_rows_nb = numba.njit(cache=True)(apertures.row_rows)


@numba.njit(cache=True, nogil=True, fastmath=True)
def _scatter_spans(image, coc, ymin, ymax, cells, mirror, bounds, worker, n_workers, reach, reach_x, min_radius, ring,
                   tile, out, unit):
    """Scatter ``image`` (3, H, W) with signed radii ``coc`` (H, W) into ``out``, chunk by chunk.

    ``image`` is already gamma-encoded; ``out`` receives the normalised result in the rows of the
    chunks ``bounds[c]:bounds[c + 1]``, which are dealt out to the threads in turn. ``reach`` and
    ``reach_x`` are one more than the largest row and column offset any footprint spans. ``cells[i]``
    holds the boundary integrals at table sample i and their steps to sample i + 1, so
    ``apertures.row_span``'s two interpolated reads are one 4-float load each. ``mirror``: the shape
    is symmetric about its horizontal axis (``SpanTable.mirror``), so the strips at row offsets j and
    -j are equal and each pair is computed once. ``ring`` and ``tile`` come from ``_ring_layout``.
    ``unit`` is 1.0, passed in so that the weight lane is multiplied like the colour lanes and the
    lanes of a write compile to one vector operation.

    A chunk is swept tile by tile (``tile`` columns), and each tile source row by source row into a
    ring of rows: once the sources of row sy are in, output row sy - reach + 1 is complete, so it is
    normalised and its ring row cleared for reuse.
    """
    height, width = coc.shape
    n_cells = cells.shape[0]
    to_index = n_cells / (ymax - ymin)
    mask = ring - 1
    n_chunks = bounds.shape[0] - 1
    # per pixel: steps of the running (r, g, b, weight) sums, then direct (r, g, b, weight) sums; each
    # row padded by 64 bytes, so that rows 4 KiB apart do not all fall in the same L1 cache sets
    # (512-column tiles at radius 50: 8 % faster)
    acc = np.zeros((ring, 8 * tile + 16), dtype=np.float32)
    # the upper edges of one source's strips and their two boundary integrals
    m = 2 * reach + 4
    edge_l = np.empty(m)
    edge_r = np.empty(m)
    # per strip: end columns (a, b) relative to the source and end weights, see _strip_ends
    strips = (np.empty(m, dtype=np.int32), np.empty(m, dtype=np.int32), np.empty(m, dtype=np.float32),
              np.empty(m, dtype=np.float32))
    for chunk in range(worker, n_chunks, n_workers):
        y0 = bounds[chunk]
        y1 = bounds[chunk + 1]
        sy_end = min(height, y1 + reach)
        for x0 in range(0, width, tile):
            x1 = min(width, x0 + tile)
            for sy in range(max(0, y0 - reach), sy_end):
                for sx in range(max(0, x0 - reach_x), min(width, x1 + reach_x)):
                    r = abs(coc[sy, sx])
                    rho = max(r, min_radius)
                    if sx + rho + 1.0 < x0 or sx - rho - 1.0 >= x1:
                        continue  # the unit shape lies within |x| <= 1
                    top = sy + int(math.floor(rho * ymin - 0.5)) + 1  # the footprint's first and last rows
                    bottom = sy + int(math.ceil(rho * ymax + 0.5)) - 1
                    j_lo = max(y0, top) - sy  # the row offsets of its strips in this chunk
                    j_hi = min(y1 - 1, bottom) - sy
                    if j_lo > j_hi:
                        continue
                    if mirror:
                        g0 = 0 if j_lo <= 0 and j_hi >= 0 else min(abs(j_lo), abs(j_hi))
                        g1 = max(abs(j_lo), abs(j_hi))
                    else:
                        g0 = j_lo
                        g1 = j_hi
                    n = g1 - g0 + 1  # the strips at offsets g0..g1 are computed
                    inv_rho = 1.0 / rho
                    # all strip edges first, in a loop without branches (LLVM keeps its table reads scalar)
                    for k in range(n + 1):
                        t = min(max((g0 - 0.5 + k) * inv_rho, ymin), ymax)
                        u = (t - ymin) * to_index
                        i = np.uint64(min(int(u), n_cells - 1))
                        f = u - np.float64(i)
                        edge_l[k] = cells[i, 0] + cells[i, 2] * f
                        edge_r[k] = cells[i, 1] + cells[i, 3] * f
                    weight = 1.0 / (r * r + 0.2)
                    w_first, w_last = _strip_ends(n, g0, rho, inv_rho, ymin, ymax, weight, edge_l, edge_r, width,
                                                  strips, g0 == top - sy, g1 == bottom - sy)
                    _write_strips(acc, sy, mask, j_lo, j_hi, g0, n, mirror, sx - x0, strips, weight, w_first, w_last,
                                  image[0, sy, sx], image[1, sy, sx], image[2, sy, sx], unit, x1 - x0)
                done = sy - reach + 1
                if done >= y0 and done < y1:
                    _normalise_row(acc, done & mask, out, done, x0, x1)
            for ty in range(max(y0, sy_end - reach + 1), y1):
                _normalise_row(acc, ty & mask, out, ty, x0, x1)


_RING_FLOATS = 1 << 19  # a ring of up to 2 MB (8 floats per pixel) stays in a core's L2 cache


def _ring_layout(reach, width):
    """Rows of the ring (a power of two >= 2 * reach, so a ring row is an index mask away) and its tile width.

    The tile is as wide as keeps the ring within ``_RING_FLOATS``, between 256 and 960 columns:
    measured on 1080p, 960-column tiles are 9 % faster than whole rows at radius 25, and at radius 50
    (a 128-row ring) 480-512-column tiles are 3-9 % faster than 960.
    """
    ring = 1
    while ring < 2 * reach:
        ring *= 2
    return ring, min(width, max(256, min(960, _RING_FLOATS // (8 * ring))))


@numba.njit(cache=True, inline="always")
def _strip_ends(n, g0, rho, inv_rho, ymin, ymax, weight, edge_l, edge_r, width, strips, cut_first, cut_last):
    """Strips k = 0..n-1 from their edges: end columns a, b (relative to the source) and end weights.

    Coverage profile of a strip: ea at column a, w on (a, b), eb at b (ea alone when a == b). First
    every strip as uncut (a loop without branches, vectorised): height 1/rho, so its span scale is
    rho^2 and w the source's weight. Only the footprint's top and bottom strip can be cut by the
    shape (height dt < 1/rho), and only when they are among these (``cut_first``, ``cut_last``) are
    they redone. Returns w of the first and the last strip.
    """
    col_a, col_b, end_a, end_b = strips
    full = rho * rho
    for k in range(n):
        _ends(strips, k, (edge_l[k + 1] - edge_l[k]) * full, (edge_r[k + 1] - edge_r[k]) * full, weight)
    w_first = weight
    w_last = weight
    for k in (0, n - 1):
        if not ((k == 0 and cut_first) or (k == n - 1 and cut_last)):
            continue
        # the strip's height inside the shape, in units of the shape (the edges' t, as in _scatter_spans)
        dt = min(max((g0 + 0.5 + k) * inv_rho, ymin), ymax) - min(max((g0 - 0.5 + k) * inv_rho, ymin), ymax)
        w = weight * dt * rho
        if dt <= 1e-12:
            col_a[k] = width  # nothing of the shape in this strip: off the row
            col_b[k] = width
        else:
            scale = rho / dt
            _ends(strips, k, (edge_l[k + 1] - edge_l[k]) * scale, (edge_r[k + 1] - edge_r[k]) * scale, w)
        if k == 0:
            w_first = w
        if k == n - 1:
            w_last = w
    return w_first, w_last


@numba.njit(cache=True, inline="always")
def _ends(strips, k, left, right, w):
    """Strip k's span [left, right] (columns relative to the source) as end columns and weights."""
    col_a, col_b, end_a, end_b = strips
    fa = math.floor(left + 0.5)
    fb = math.floor(right + 0.5)
    col_a[k] = np.int32(fa)
    col_b[k] = np.int32(fb)
    end_a[k] = np.float32(w * (right - left) if fa == fb else w * (fa + 0.5 - left))
    end_b[k] = np.float32(w * (right - fb + 0.5))


@numba.njit(cache=True, inline="always")
def _write_strips(acc, sy, mask, j_lo, j_hi, g0, n, mirror, sx, strips, weight, w_first, w_last, c0, c1, c2, unit,
                  width):
    """Add source row sy's strips at row offsets j_lo..j_hi (ring rows (sy + j) & mask of ``acc``).

    Computed strip k is the one at offset g0 + k, and with ``mirror`` also the one at -(g0 + k).
    """
    col_a, col_b, end_a, end_b = strips
    for k in range(n):
        w = w_first if k == 0 else (w_last if k == n - 1 else weight)
        j = g0 + k
        a = sx + col_a[k]
        b = sx + col_b[k]
        if j >= j_lo and j <= j_hi:
            _write_strip(acc, np.uint64((sy + j) & mask), a, b, end_a[k], end_b[k], w, c0, c1, c2, unit, width)
        if mirror and j > 0 and -j >= j_lo and -j <= j_hi:
            _write_strip(acc, np.uint64((sy - j) & mask), a, b, end_a[k], end_b[k], w, c0, c1, c2, unit, width)


@numba.njit(cache=True, inline="always")
def _write_strip(acc, i, a, b, ea, eb, w, c0, c1, c2, unit, width):
    """Add a strip to row i: ea at column a, w on (a, b), eb at b (ea alone when a == b).

    The partial end pixels go straight into the direct sums; the full run between them is two steps of
    the running sum, so in-focus pixels (a single pixel) never go through cancelling steps.
    """
    if a == b:
        _direct(acc, i, a, ea, c0, c1, c2, unit, width)
    elif a >= 0 and b < width and b - a >= 2:
        # direct(a) + step(a + 1) are 8 adjacent floats, and so are step(b) + direct(b)
        _add8(acc, i, np.uint64(8 * a + 4), ea, w, c0, c1, c2, unit)
        _add8(acc, i, np.uint64(8 * b), -w, eb, c0, c1, c2, unit)
    else:
        _direct(acc, i, a, ea, c0, c1, c2, unit, width)
        _direct(acc, i, b, eb, c0, c1, c2, unit, width)
        if b - a >= 2:
            _step(acc, i, a + 1, w, c0, c1, c2, unit, width)
            _step(acc, i, b, -w, c0, c1, c2, unit, width)


@numba.njit(cache=True, inline="always")
def _add8(acc, i, q, wa, wb, c0, c1, c2, c3):
    """acc[i, q:q + 4] += wa * (c0, c1, c2, c3) and acc[i, q + 4:q + 8] += wb * (c0, c1, c2, c3).

    Eight adjacent floats of a flat row (so the compiler can see that they are adjacent): 2 % faster
    than two separate 4-lane writes at radius 25, though LLVM still emits two 4-lane multiply-adds.
    """
    wa32 = np.float32(wa)
    wb32 = np.float32(wb)
    acc[i, q] += c0 * wa32
    acc[i, q + 1] += c1 * wa32
    acc[i, q + 2] += c2 * wa32
    acc[i, q + 3] += c3 * wa32
    acc[i, q + 4] += c0 * wb32
    acc[i, q + 5] += c1 * wb32
    acc[i, q + 6] += c2 * wb32
    acc[i, q + 7] += c3 * wb32


@numba.njit(cache=True, inline="always")
def _add4(acc, i, q, w, c0, c1, c2, c3):
    """acc[i, q:q + 4] += w * (c0, c1, c2, c3), in float32 (``acc`` rows hold 8 floats per pixel).

    float32 sums: measured 1.7x faster than float64 here, error < 1e-5. No array views here: a view
    in this loop costs a reference count update per write (measured 1.8x slower at radius 25).
    """
    w32 = np.float32(w)
    acc[i, q] += c0 * w32
    acc[i, q + 1] += c1 * w32
    acc[i, q + 2] += c2 * w32
    acc[i, q + 3] += c3 * w32


@contextlib.contextmanager
def _slp_vectoriser():
    """Compile with LLVM's SLP vectoriser on (numba leaves it off by default).

    It turns each 4-lane ``_add4`` into one vector multiply-add; measured 11 % faster at radius 25.
    The fast kernel is checked against the readable reference by the tests, whatever the compiler does.
    """
    previous = getattr(numba.config, "SLP_VECTORIZE", 0)  # read by numba's code generator at compile time
    numba.config.SLP_VECTORIZE = 1
    try:
        yield
    finally:
        numba.config.SLP_VECTORIZE = previous


@numba.njit(cache=True, nogil=True, fastmath=True)
def _scatter_runs(image, coc, bin_index, start, run_dy, run_x0, run_x1, run_value, bounds, worker, n_workers, reach,
                  reach_x, ring, tile, out, unit):
    """The same scatter for footprints given as run tables (kernel-image apertures), same layout.

    Source (sy, sx) uses the runs ``start[k]:start[k+1]`` of its radius bin k = ``bin_index[sy, sx]``
    (offsets dy, x0..x1 with one coverage each); chunks, ring and tiles as in ``_scatter_spans``.
    """
    height, width = coc.shape
    mask = ring - 1
    n_chunks = bounds.shape[0] - 1
    acc = np.zeros((ring, 8 * tile + 16), dtype=np.float32)  # as in _scatter_spans
    for chunk in range(worker, n_chunks, n_workers):
        y0 = bounds[chunk]
        y1 = bounds[chunk + 1]
        sy_end = min(height, y1 + reach)
        for x0 in range(0, width, tile):
            x1 = min(width, x0 + tile)
            for sy in range(max(0, y0 - reach), sy_end):
                for sx in range(max(0, x0 - reach_x), min(width, x1 + reach_x)):
                    r = abs(coc[sy, sx])
                    weight = 1.0 / (r * r + 0.2)
                    c0 = image[0, sy, sx]
                    c1 = image[1, sy, sx]
                    c2 = image[2, sy, sx]
                    k = bin_index[sy, sx]
                    for j in range(start[k], start[k + 1]):
                        ty = sy + run_dy[j]
                        if ty < y0 or ty >= y1:
                            continue
                        i = np.uint64(ty & mask)
                        w = weight * run_value[j]
                        if run_x0[j] == run_x1[j]:
                            _direct(acc, i, sx - x0 + run_x0[j], w, c0, c1, c2, unit, x1 - x0)
                        else:
                            _step(acc, i, sx - x0 + run_x0[j], w, c0, c1, c2, unit, x1 - x0)
                            _step(acc, i, sx - x0 + run_x1[j] + 1, -w, c0, c1, c2, unit, x1 - x0)
                done = sy - reach + 1
                if done >= y0 and done < y1:
                    _normalise_row(acc, done & mask, out, done, x0, x1)
            for ty in range(max(y0, sy_end - reach + 1), y1):
                _normalise_row(acc, ty & mask, out, ty, x0, x1)


@numba.njit(cache=True)
def _normalise_row(acc, i, out, ty, x0, x1):
    """Output row ty, columns [x0, x1), from ring row i; clears the ring row.

    Running sums of the row's steps plus the direct sums, divided by the summed weight. Steps left of
    the tile were clamped to its first column by ``_step``, so they start the running sums.
    """
    s0 = 0.0
    s1 = 0.0
    s2 = 0.0
    sw = 0.0
    for x in range(x1 - x0):
        s0 += acc[i, 8 * x + 0]
        s1 += acc[i, 8 * x + 1]
        s2 += acc[i, 8 * x + 2]
        sw += acc[i, 8 * x + 3]
        total = sw + acc[i, 8 * x + 7]
        # the running sums cancel large steps, so float rounding can leave -1e-7 where 0 is meant
        out[0, ty, x0 + x] = max((s0 + acc[i, 8 * x + 4]) / total, 0.0)
        out[1, ty, x0 + x] = max((s1 + acc[i, 8 * x + 5]) / total, 0.0)
        out[2, ty, x0 + x] = max((s2 + acc[i, 8 * x + 6]) / total, 0.0)
        for q in range(8):
            acc[i, 8 * x + q] = 0.0


@numba.njit(cache=True, inline="always")
def _step(acc, i, x, w, c0, c1, c2, unit, width):
    """Add a step of height w (times the source colour) to row i's running sums from column x on.

    A step left of the row (the image's or the tile's) starts the running sums at its column 0; one
    right of it is dropped.
    """
    if x < width:
        _add4(acc, i, np.uint64(8 * max(x, 0)), w, c0, c1, c2, unit)


@numba.njit(cache=True, inline="always")
def _direct(acc, i, x, w, c0, c1, c2, unit, width):
    """Add w (times the source colour) to pixel x of row i only, if x is in the row."""
    if 0 <= x < width:
        _add4(acc, i, np.uint64(8 * x + 4), w, c0, c1, c2, unit)


_FLOOR = -(1 << 30)


@numba.njit(cache=True, parallel=True)
def _dilate_signed(coc, ymin, ymax, cxl, cxr, band_rows, reach, min_radius, out, workers):
    """BokehMe's dilated signed defocus: per pixel, the signed max of trunc(r) over covering footprints.

    Range-max updates use a sparse table per band row: O(1) per strip, O(W log W) per row to resolve.
    """
    height, width = coc.shape
    levels = _levels(width)
    n_bands = (height + band_rows - 1) // band_rows
    n_workers = min(n_bands, workers)
    for worker in numba.prange(n_workers):
        for band in range(worker, n_bands, n_workers):  # dealt out in turn (module docstring)
            y0 = band * band_rows
            y1 = min(height, y0 + band_rows)
            table = np.full((y1 - y0, levels, width), _FLOOR, dtype=np.int32)
            edge_t = np.empty(2 * reach + 4)
            edge_l = np.empty(2 * reach + 4)
            edge_r = np.empty(2 * reach + 4)
            for sy in range(max(0, y0 - reach), min(height, y1 + reach)):
                for sx in range(width):
                    signed = coc[sy, sx]
                    value = np.int32(int(signed))  # truncation toward zero, as BokehMe's int cast
                    rho = max(abs(signed), min_radius)
                    dy_lo, dy_hi = _row_rows_nb(rho, ymin, ymax)
                    ty_lo = max(y0, sy + dy_lo)
                    n = min(y1 - 1, sy + dy_hi) + 1 - ty_lo
                    # apertures.row_span's arithmetic exactly (this map is tested for equality), but each
                    # boundary read once: strip dy's lower edge (dy + 0.5) / rho is strip dy + 1's upper
                    # edge, and _lerp clamps like row_span's clamp of t to [ymin, ymax]
                    for k in range(n + 1):
                        t = (ty_lo - sy - 0.5 + k) / rho
                        edge_t[k] = t
                        edge_l[k] = _lerp_nb(cxl, ymin, ymax, t)
                        edge_r[k] = _lerp_nb(cxr, ymin, ymax, t)
                    for k in range(n):
                        t0 = max(edge_t[k], ymin)
                        t1 = min(edge_t[k + 1], ymax)
                        if t1 - t0 <= 1e-12:
                            continue  # row_span's empty strip
                        scale = rho / (t1 - t0)
                        xl = (edge_l[k + 1] - edge_l[k]) * scale
                        xr = (edge_r[k + 1] - edge_r[k]) * scale
                        _chmax(table, ty_lo + k - y0, int(math.floor(sx + xl + 0.5)), int(math.floor(sx + xr + 0.5)),
                               value, width)
            _resolve(table, out, y0)


@numba.njit(cache=True, parallel=True)
def _dilate_runs(coc, bin_index, start, run_dy, run_x0, run_x1, band_rows, reach, out, workers):
    """``_dilate_signed`` for footprints given as run tables (kernel-image apertures)."""
    height, width = coc.shape
    levels = _levels(width)
    n_bands = (height + band_rows - 1) // band_rows
    n_workers = min(n_bands, workers)
    for worker in numba.prange(n_workers):
        for band in range(worker, n_bands, n_workers):  # dealt out in turn (module docstring)
            y0 = band * band_rows
            y1 = min(height, y0 + band_rows)
            table = np.full((y1 - y0, levels, width), _FLOOR, dtype=np.int32)
            for sy in range(max(0, y0 - reach), min(height, y1 + reach)):
                for sx in range(width):
                    value = np.int32(int(coc[sy, sx]))
                    k = bin_index[sy, sx]
                    for j in range(start[k], start[k + 1]):
                        ty = sy + run_dy[j]
                        if y0 <= ty < y1:
                            _chmax(table, ty - y0, sx + run_x0[j], sx + run_x1[j], value, width)
            _resolve(table, out, y0)


@numba.njit(cache=True)
def _levels(width):
    levels = 1
    while (1 << levels) <= width:
        levels += 1
    return levels


@numba.njit(cache=True, inline="always")
def _chmax(table, i, a, b, value, width):
    """Record max(value) over columns a..b (clipped) of row i in a sparse table: two O(1) writes.

    No row view (a view costs a reference-count update per call). The level is found by a short
    loop: a lookup array instead made a serial build of these kernels 2x slower (the prange builds
    were unaffected).
    """
    a = max(a, 0)
    b = min(b, width - 1)
    if a > b:
        return
    k = 0
    while (2 << k) <= b - a + 1:
        k += 1
    if value > table[i, k, a]:
        table[i, k, a] = value
    j = b - (1 << k) + 1
    if value > table[i, k, j]:
        table[i, k, j] = value


@numba.njit(cache=True)
def _resolve(table, out, y0):
    """Push every level of the sparse tables down to single columns and write the row maxima."""
    width = table.shape[2]
    for i in range(table.shape[0]):
        t = table[i]
        for k in range(t.shape[0] - 1, 0, -1):
            half = 1 << (k - 1)
            for x in range(width - (1 << k) + 1):
                v = t[k, x]
                if v > t[k - 1, x]:
                    t[k - 1, x] = v
                if v > t[k - 1, x + half]:
                    t[k - 1, x + half] = v
        for x in range(width):
            out[y0 + i, x] = t[0, x]


def _launcher(kernel, *extra):
    """The Python entry of a band kernel: appends ``extra`` and the thread count to the arguments.

    The thread count is read here, not inside the kernel, so that numba can cache the kernel; the
    first call in a process compiles it (or loads it from numba's cache) with the SLP vectoriser on.
    """

    @functools.wraps(kernel.py_func)
    def launch(*args):
        args = (*args, *extra, numba.get_num_threads())
        if not kernel.signatures:
            with _slp_vectoriser():
                return kernel(*args)
        return kernel(*args)

    return launch


def scatter_spans(image, coc, table, out, max_radius, min_radius, row0=0, row1=None, *, tile=None, chunks=None):
    """Scatter ``image`` (3, H, W, gamma-encoded) with radii ``coc`` into rows [row0, row1) of ``out``.

    ``table`` is the aperture's ``SpanTable``; ``max_radius`` bounds |coc| (and is at least
    ``min_radius``). The rows are cut into ``chunks`` (default: one per numba thread) of about equal
    work, dealt out to the threads in turn; ``tile`` is the sweep width in columns (see
    ``_scatter_spans``; default from ``_ring_layout``). Any chunk layout gives the same bits (tile
    layouts differ by float rounding). Plain threads running a serial GIL-free kernel rather than a
    numba parallel loop: compiled with ``parallel=True`` (with a ``prange`` loop over the threads, or
    even without one), this kernel gives wrong sums on one thread (numba's parallel rewriting; not
    tracked down further), and a serial kernel is easier to reason about.
    """
    dy_lo, dy_hi = apertures.row_rows(max_radius, table.ymin, table.ymax)
    reach = max(-dy_lo, dy_hi) + 1
    reach_x = math.ceil(max_radius + 0.5) + 1  # the unit shape lies within |x| <= 1
    ring, tile, bounds, workers = _plan(coc, row0, row1, reach, tile, chunks, min_radius)
    _compile_spans()
    _in_threads(workers, lambda worker: _scatter_spans(
        image, coc, table.ymin, table.ymax, table.cells, table.mirror, bounds, worker, workers, reach, reach_x,
        min_radius, ring, tile, out, np.float32(1.0)))


def scatter_runs(image, coc, bin_index, runs, out, min_radius, row0=0, row1=None, *, tile=None, chunks=None):
    """``scatter_spans`` for kernel-image apertures: ``runs`` = (start, dy, x0, x1, value) run tables.

    ``bin_index`` (H, W) picks each source's radius bin in the tables (see ``optics.kernel_image``).
    """
    start, run_dy, run_x0, run_x1, run_value = runs
    reach = int(np.abs(run_dy).max()) + 1 if run_dy.size else 1
    reach_x = int(max(np.abs(run_x0).max(), np.abs(run_x1).max())) + 2 if run_dy.size else 1
    ring, tile, bounds, workers = _plan(coc, row0, row1, reach, tile, chunks, min_radius)
    _compile_runs(image, coc, bin_index, runs, out)
    _in_threads(workers, lambda worker: _scatter_runs(
        image, coc, bin_index, start, run_dy, run_x0, run_x1, run_value, bounds, worker, workers, reach, reach_x,
        ring, tile, out, np.float32(1.0)))


def _plan(coc, row0, row1, reach, tile, chunks, min_radius):
    """Ring rows, tile width, chunk bounds and thread count for rendering rows [row0, row1) of ``coc``.

    ``tile`` and ``chunks`` of None take the defaults (``_ring_layout``; one chunk per numba thread).
    """
    ring, default_tile = _ring_layout(reach, coc.shape[1])
    row1 = coc.shape[0] if row1 is None else row1
    bounds = balanced_chunks(coc[row0:row1], chunks or numba.get_num_threads(), min_radius) + row0
    return ring, tile or default_tile, bounds, min(numba.get_num_threads(), len(bounds) - 1)


def _in_threads(workers, run):
    """``run(worker)`` for workers 0..n-1 at once: worker 0 on this thread, the others on a pool."""
    if workers == 1:
        run(0)
        return
    with concurrent.futures.ThreadPoolExecutor(workers - 1) as pool:
        others = [pool.submit(run, worker) for worker in range(1, workers)]
        run(0)
        for other in others:
            other.result()  # re-raises a worker's error


def _compile_spans():
    """Compile ``_scatter_spans`` (or load it from numba's cache) once per process, before any thread runs it.

    On a one-pixel image with the argument types of every real call, so the first real call is already
    parallel (numba would otherwise compile it inside the first thread to call it, and the others wait);
    compiled with the SLP vectoriser on.
    """
    if _scatter_spans.signatures:
        return
    pixel = np.ones((3, 1, 1), dtype=np.float32)
    circle = apertures.span_table(Aperture())
    with _slp_vectoriser():
        _scatter_spans(pixel, np.zeros((1, 1), dtype=np.float32), circle.ymin, circle.ymax, circle.cells,
                       circle.mirror, np.array([0, 1], dtype=np.int64), 0, 1, 2, 2, 0.5, 4, 1, pixel.copy(),
                       np.float32(1.0))


def balanced_chunks(coc, n_chunks, min_radius):
    """Row bounds (n + 1 ints, n <= ``n_chunks``) cutting ``coc`` into chunks of about equal scatter work.

    A source costs about its radius plus 3 px (strips scale with the radius, and each source has a
    fixed set-up; fitted on 1080p at radius 5 and 25, where the two threads then finish within 3 %);
    every eighth column is enough to estimate a row's sum.
    """
    rows = coc.shape[0]
    cost = np.cumsum((np.maximum(np.abs(coc[:, ::8]), min_radius) + 3.0).sum(axis=1, dtype=np.float64))
    cuts = np.searchsorted(cost, cost[-1] * np.arange(1, n_chunks) / n_chunks) + 1
    return np.unique(np.concatenate([[0], np.clip(cuts, 1, rows), [rows]])).astype(np.int64)


def _compile_runs(image, coc, bin_index, runs, out):
    """``_compile_spans`` for ``_scatter_runs``: one pixel of the real arrays, so the types match."""
    if _scatter_runs.signatures:
        return
    # one run covering the pixel itself, in the real tables' dtypes
    one = [np.array(value, dtype=table.dtype)
           for value, table in zip(([0, 1], [0], [0], [0], [1.0]), runs, strict=True)]
    with _slp_vectoriser():
        _scatter_runs(image[:, :1, :1].copy(), coc[:1, :1].copy(), np.zeros((1, 1), dtype=bin_index.dtype), *one,
                      np.array([0, 1], dtype=np.int64), 0, 1, 1, 1, 2, 1, np.empty((3, 1, 1), dtype=out.dtype),
                      np.float32(1.0))


dilate_signed = _launcher(_dilate_signed)
dilate_runs = _launcher(_dilate_runs)

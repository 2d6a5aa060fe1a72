"""One layer of the layered renderer at 1/s resolution, compiled: the same numbers as the torch steps in
``render.classical.layered._layer_rows`` (weights, over-compositing share, hidden mask, premultiplied
colour, area-downsampling of the known part), in one pass over the photo instead of about twenty.

Per pixel: C_k and C_{k-1} are the clamped ramps of ``_cumulative`` (``width`` <= 0 stands for "all 1",
resp. "all 0"), the weight is their difference, the share weight / C_k, and the pixel is hidden when its
radius is at or beyond ``hidden_from``. Each s x s block (the frame's last row and column repeated past its
edge, as torch's replicate padding does) sums premultiplied colour and share over its known pixels and
divides by their count.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, inline="always")
def _ramp(value: float, mid: float, width: float, empty: float) -> float:
    if width <= 0.0:
        return empty
    return min(max((mid + 0.5 * width - value) / width, 0.0), 1.0)


@numba.njit(cache=True, parallel=True)
def tile_ranges(coc, tile):
    """The smallest and largest radius of ``coc (H, W)`` in each ``tile`` px square: two (⌈H/tile⌉, ⌈W/tile⌉)."""
    height, width = coc.shape
    th, tw = -(-height // tile), -(-width // tile)
    lo = np.empty((th, tw), np.float32)
    hi = np.empty((th, tw), np.float32)
    for ty in numba.prange(th):
        for tx in range(tw):
            a = np.inf
            b = -np.inf
            for y in range(ty * tile, min(height, ty * tile + tile)):
                for x in range(tx * tile, min(width, tx * tile + tile)):
                    a = min(a, coc[y, x])
                    b = max(b, coc[y, x])
            lo[ty, tx] = a
            hi[ty, tx] = b
    return lo, hi


@numba.njit(cache=True, inline="always")
def _empty_tile(lo, hi, mid_k, width_k, mid_prev, width_prev, hidden_from):
    """0 when the layer may have weight in a tile of radii lo..hi; else 1 when none of it is hidden (the
    layer is known to be empty there), 2 when all of it is (empty and hidden), 0 when only part is."""
    behind = width_prev > 0.0 and hi <= mid_prev - 0.5 * width_prev    # C_{k-1} = C_k = 1: no weight
    in_front = width_k > 0.0 and lo >= mid_k + 0.5 * width_k           # C_k = 0: no weight
    if not (behind or in_front):
        return 0
    if hi < hidden_from:
        return 1
    if lo >= hidden_from:
        return 2
    return 0


@numba.njit(cache=True, inline="always")
def _cell(image, coc, s, by, bx, mid_k, width_k, mid_prev, width_prev, hidden_from):
    """One cell (s x s pixels, the frame's edge repeated) of a layer: (premultiplied r, g, b, alpha over
    the known pixels, known fraction, any weight, any hidden)."""
    height, width = coc.shape
    c0 = c1 = c2 = a = 0.0
    count = 0.0
    weighted = hidden = False
    for dy in range(s):
        y = min(by * s + dy, height - 1)
        for dx in range(s):
            x = min(bx * s + dx, width - 1)
            r = coc[y, x]
            c_k = _ramp(r, mid_k, width_k, 1.0)
            weight = c_k - _ramp(r, mid_prev, width_prev, 0.0)
            if weight > 0.0:
                weighted = True
            if r >= hidden_from:
                hidden = True
                continue
            count += 1.0
            if weight > 0.0 and c_k > 0.0:      # no colour read where the layer has no weight
                share = weight / max(c_k, 1e-12)
                c0 += image[0, y, x] * share
                c1 += image[1, y, x] * share
                c2 += image[2, y, x] * share
                a += share
    inv = 1.0 / count if count > 0.0 else 0.0
    return c0 * inv, c1 * inv, c2 * inv, a * inv, count / (s * s), weighted, hidden


@numba.njit(cache=True, parallel=True)
def layer_down(image, coc, s, mid_k, width_k, mid_prev, width_prev, hidden_from, lo, hi, tile, premult, known):
    """Fill ``premult (4, h, w)`` and ``known (h, w)`` (h, w = ceil(H / s), ceil(W / s)) for one layer;
    returns (any weight > 0, any hidden pixel) over the full-resolution pixels. ``lo``, ``hi``: the radius
    range of each ``tile`` px square (:func:`tile_ranges`, ``tile`` a multiple of s): the tiles where the
    layer has no weight are written a row at a time without visiting their pixels. At full resolution
    (s = 1) a cell is one pixel, written directly (:func:`_cell`'s s = 1 case)."""
    h, w = known.shape
    per = tile // s                          # cells per tile side
    th, tw = lo.shape
    any_weight = np.zeros(th, np.bool_)
    any_hidden = np.zeros(th, np.bool_)
    for ty in numba.prange(th):
        weighted_row = hidden_row = False      # kept per thread, written once: no shared cache line per pixel
        for tx in range(tw):
            empty = _empty_tile(lo[ty, tx], hi[ty, tx], mid_k, width_k, mid_prev, width_prev, hidden_from)
            bx0, bx1 = tx * per, min(w, tx * per + per)
            if empty > 0:
                hidden_row |= empty == 2
                for by in range(ty * per, min(h, ty * per + per)):
                    for c in range(4):
                        premult[c, by, bx0:bx1] = 0.0
                    known[by, bx0:bx1] = 1.0 if empty == 1 else 0.0
                continue
            for by in range(ty * per, min(h, ty * per + per)):
                if s == 1:                    # a cell is one pixel: _cell's arithmetic, written directly
                    for bx in range(bx0, bx1):
                        r = coc[by, bx]
                        c_k = _ramp(r, mid_k, width_k, 1.0)
                        weight = c_k - _ramp(r, mid_prev, width_prev, 0.0)
                        if weight > 0.0:
                            weighted_row = True
                        if r >= hidden_from:
                            hidden_row = True
                            for c in range(4):
                                premult[c, by, bx] = 0.0
                            known[by, bx] = 0.0
                            continue
                        share = weight / max(c_k, 1e-12) if weight > 0.0 and c_k > 0.0 else 0.0
                        for c in range(3):
                            premult[c, by, bx] = image[c, by, bx] * share
                        premult[3, by, bx] = share
                        known[by, bx] = 1.0
                    continue
                for bx in range(bx0, bx1):
                    r, g, b, a, kn, weighted, hidden = _cell(image, coc, s, by, bx, mid_k, width_k, mid_prev,
                                                             width_prev, hidden_from)
                    premult[0, by, bx] = r
                    premult[1, by, bx] = g
                    premult[2, by, bx] = b
                    premult[3, by, bx] = a
                    known[by, bx] = kn
                    weighted_row |= weighted
                    hidden_row |= hidden
        any_weight[ty] = weighted_row
        any_hidden[ty] = hidden_row
    return any_weight.any(), any_hidden.any()


@numba.njit(cache=True, parallel=True)
def block_sums(image, coc, s, mid_k, width_k, mid_prev, width_prev, hidden_from, lo, hi, tile, cells_h, cells_w,
               p_out, w_out):
    """The fill's pull sums of a layer at the level of ``tile`` px blocks, straight from the photo: per block,
    the sum over its cells (of :func:`layer_down`'s layer, ``cells_h`` x ``cells_w`` of them in the frame)
    of source·known and of known, the source being the layer with each colour held at or below its alpha.
    Empty tiles cost O(1). Returns (any weight > 0, any hidden pixel)."""
    per = tile // s
    th, tw = lo.shape
    any_weight = np.zeros(th, np.bool_)
    any_hidden = np.zeros(th, np.bool_)
    for ty in numba.prange(th):
        weighted_row = hidden_row = False      # kept per thread, written once (as in layer_down)
        for tx in range(tw):
            empty = _empty_tile(lo[ty, tx], hi[ty, tx], mid_k, width_k, mid_prev, width_prev, hidden_from)
            rows = min(cells_h, ty * per + per) - ty * per
            cols = min(cells_w, tx * per + per) - tx * per
            for c in range(4):
                p_out[c, ty, tx] = 0.0
            if empty > 0:
                w_out[ty, tx] = rows * cols if empty == 1 else 0.0
                hidden_row |= empty == 2
                continue
            total = 0.0
            for by in range(ty * per, ty * per + rows):
                for bx in range(tx * per, tx * per + cols):
                    r, g, b, a, kn, weighted, hidden = _cell(image, coc, s, by, bx, mid_k, width_k, mid_prev,
                                                             width_prev, hidden_from)
                    p_out[0, ty, tx] += min(r, a) * kn
                    p_out[1, ty, tx] += min(g, a) * kn
                    p_out[2, ty, tx] += min(b, a) * kn
                    p_out[3, ty, tx] += a * kn
                    total += kn
                    weighted_row |= weighted
                    hidden_row |= hidden
            w_out[ty, tx] = total
        any_weight[ty] = weighted_row
        any_hidden[ty] = hidden_row
    return any_weight.any(), any_hidden.any()


@numba.njit(cache=True, inline="always")
def _sum2x2(a, c, y, x):
    """The sum of channel c of ``a (C, H, W)`` over the 2x2 cell (y, x) of the half-size grid, samples past
    the edge 0."""
    height, width = a.shape[1], a.shape[2]
    total = 0.0
    for dy in range(2):
        yy = 2 * y + dy
        if yy >= height:
            continue
        for dx in range(2):
            xx = 2 * x + dx
            if xx < width:
                total += a[c, yy, xx]
    return total


@numba.njit(cache=True, parallel=True)
def pull_level(p, w, p_out, w_out):
    """One pull step: 2x2 sums of ``p (C, H, W)`` and ``w (H, W)`` into ``p_out (C, h, w)``, ``w_out (h, w)``
    (h, w = ceil(H / 2), ceil(W / 2); an odd size counts an empty row or column, as a zero pad does)."""
    channels = p.shape[0]
    weights = w.reshape((1,) + w.shape)
    h, w2 = w_out.shape
    for y in numba.prange(h):
        for x in range(w2):
            w_out[y, x] = _sum2x2(weights, 0, y, x)
            for c in range(channels):
                p_out[c, y, x] = _sum2x2(p, c, y, x)


@numba.njit(cache=True, parallel=True)
def push_level(p, w, coarse, out):
    """One push step: each pixel keeps its own mean p / w in proportion to its confidence min(w, 1) and
    takes the rest from ``coarse`` upsampled exactly 2x (:func:`_bilinear`, as torch's
    ``interpolate(scale_factor=2, mode="bilinear", align_corners=False)``)."""
    channels, height, width = p.shape
    ch, cw = coarse.shape[1], coarse.shape[2]
    for y in numba.prange(height):
        y0, y1, fy = _twice_index(y, ch)
        for x in range(width):
            weight = w[y, x]
            if weight >= 1.0:                # fully confident: its own mean, the coarse level not read
                inv = 1.0 / weight
                for c in range(channels):
                    out[c, y, x] = p[c, y, x] * inv
                continue
            x0, x1, fx = _twice_index(x, cw)
            confidence = max(weight, 0.0)
            inv = 1.0 / max(weight, 1e-12)
            for c in range(channels):
                up = _bilinear(coarse, c, y0, y1, fy, x0, x1, fx)
                out[c, y, x] = confidence * (p[c, y, x] * inv) + (1.0 - confidence) * up


@numba.njit(cache=True, parallel=True)
def _covered(alpha, wanted, tile):
    """Per row, the columns where ``alpha (H, W)`` is above 0 in a ``wanted`` tile (``tile`` px square), as
    (row offsets, columns)."""
    height, width = alpha.shape
    counts = np.zeros(height, np.int64)
    for y in numba.prange(height):
        n = 0
        for x in range(width):
            if alpha[y, x] > 0.0 and wanted[y // tile, x // tile]:
                n += 1
        counts[y] = n
    offsets = np.zeros(height + 1, np.int64)
    for y in range(height):
        offsets[y + 1] = offsets[y] + counts[y]
    columns = np.empty(offsets[height], np.int64)
    for y in numba.prange(height):
        n = offsets[y]
        for x in range(width):
            if alpha[y, x] > 0.0 and wanted[y // tile, x // tile]:
                columns[n] = x
                n += 1
    return offsets, columns


@numba.njit(cache=True, parallel=True)
def correlate_sparse(x, kernel, wanted, tile, mass, out):
    """``out (C, H, W) = `` the zero-padded correlation of ``x (C, H, W)`` with ``kernel (K, K)`` (K odd),
    divided by ``mass (H, W)`` (the kernel's mass inside the frame), visiting only the sources whose last
    channel (a layer's alpha) is above 0 and that lie in a ``wanted`` tile (``tile`` px square; the caller
    wants the output only within the kernel's reach of those tiles). Each thread owns whole output rows
    and reads the kernel's rows of sources for each: no two threads write one pixel."""
    channels, height, width = x.shape
    size = kernel.shape[0]
    half = size // 2
    first = np.full(size, size, np.int64)   # each kernel row's nonzero columns
    last = np.full(size, -1, np.int64)
    for i in range(size):
        for j in range(size):
            if kernel[i, j] != 0.0:
                first[i] = min(first[i], j)
                last[i] = max(last[i], j)
    offsets, columns = _covered(x[channels - 1], wanted, tile)
    for y in numba.prange(height):
        for c in range(channels):
            out[c, y, :] = 0.0
        for i in range(size):
            sy = y + i - half
            if sy < 0 or sy >= height or first[i] > last[i]:
                continue
            taps = kernel[i]
            for n in range(offsets[sy], offsets[sy + 1]):
                sx = columns[n]
                lo = max(first[i], sx + half - width + 1)    # output column sx - j + half inside the row
                hi = min(last[i], sx + half)
                if channels == 4:      # a layer: premultiplied colour and alpha, one pass for all four
                    v0 = x[0, sy, sx]
                    v1 = x[1, sy, sx]
                    v2 = x[2, sy, sx]
                    v3 = x[3, sy, sx]
                    for j in range(lo, hi + 1):
                        q = sx - j + half
                        t = taps[j]
                        out[0, y, q] += t * v0
                        out[1, y, q] += t * v1
                        out[2, y, q] += t * v2
                        out[3, y, q] += t * v3
                else:
                    for c in range(channels):
                        value = x[c, sy, sx]
                        for j in range(lo, hi + 1):
                            out[c, y, sx - j + half] += taps[j] * value
        edge_row = y < half or y >= height - half
        for c in range(channels):                   # only near the frame's edge is the mass below 1
            for qx in range(width):
                if edge_row or qx < half or qx >= width - half:
                    out[c, y, qx] /= max(mass[y, qx], 1e-12)


@numba.njit(cache=True, parallel=True)
def finish_fill(premult, known, coarse, near, has_near, cell):
    """The last push level fused with the fill's use, in place: a layer's known pixels keep ``premult``; elsewhere
    the fill, ``known``·source + (1 − known)·(``coarse`` upsampled 2x, as in :func:`push_level`), times
    ``near`` (where the hidden part can be seen, one value per ``cell`` px square; ``has_near`` False:
    everywhere), mixed in by 1 − known.
    ``known`` in [0, 1] is also the
    level's weight, so its confidence is itself and its mean is the source: ``premult`` with each colour
    held at or below the alpha (no lights brighter than white smeared into the fill)."""
    channels, height, width = premult.shape
    ch, cw = coarse.shape[1], coarse.shape[2]
    for y in numba.prange(height):
        y0, y1, fy = _twice_index(y, ch)
        for x in range(width):
            kn = known[y, x]
            if kn >= 1.0:
                continue
            x0, x1, fx = _twice_index(x, cw)
            confidence = min(max(kn, 0.0), 1.0)
            keep = near[y // cell, x // cell] if has_near else 1.0
            for c in range(channels):        # the alpha (last) is read by the colours before it changes
                up = _bilinear(coarse, c, y0, y1, fy, x0, x1, fx)
                own = min(premult[c, y, x], premult[channels - 1, y, x]) if kn > 0.0 else 0.0
                filled = (confidence * own + (1.0 - confidence) * up) * keep
                premult[c, y, x] = kn * premult[c, y, x] + (1.0 - kn) * filled


@numba.njit(cache=True, parallel=True)
def pull_first(premult, known, p_out, w_out):
    """The fill's first pull step from the layer itself: 2x2 sums of source·known and known, the source
    being ``premult`` with each colour held at or below the alpha (as :func:`finish_fill` reads it)."""
    channels, height, width = premult.shape
    h, w2 = w_out.shape
    for y in numba.prange(h):
        for x in range(w2):
            total = 0.0
            for c in range(channels):
                p_out[c, y, x] = 0.0
            for dy in range(2):
                yy = 2 * y + dy
                if yy >= height:
                    continue
                for dx in range(2):
                    xx = 2 * x + dx
                    if xx >= width:
                        continue
                    kn = known[yy, xx]
                    total += kn
                    alpha = premult[channels - 1, yy, xx]
                    for c in range(channels - 1):
                        p_out[c, y, x] += min(premult[c, yy, xx], alpha) * kn
                    p_out[channels - 1, y, x] += alpha * kn
            w_out[y, x] = total


@numba.njit(cache=True, parallel=True)
def over(below, above):
    """``below (C, H, W)`` := ``above`` "over" ``below``, both premultiplied colour with the alpha last:
    colour = above + (1 − α)·below, alpha = α + (1 − α)·below's, α = above's alpha clamped to [0, 1]."""
    channels, height, width = below.shape
    for y in numba.prange(height):
        for x in range(width):
            alpha = min(max(above[channels - 1, y, x], 0.0), 1.0)
            for c in range(channels - 1):
                below[c, y, x] = above[c, y, x] + (1.0 - alpha) * below[c, y, x]
            below[channels - 1, y, x] = alpha + (1.0 - alpha) * below[channels - 1, y, x]


@numba.njit(cache=True, inline="always")
def _bilinear_index(i, s, n):
    """Source samples and weight of output index ``i`` for an s-times upsampling of ``n`` samples (torch's
    bilinear, align_corners=False: centres at (i + 0.5) / s − 0.5, clamped at the ends)."""
    src = max((i + 0.5) / s - 0.5, 0.0)
    i0 = min(int(src), n - 1)
    i1 = min(i0 + 1, n - 1)
    return i0, i1, src - i0


@numba.njit(cache=True, inline="always")
def _twice_index(i, n):
    """:func:`_bilinear_index` for s = 2, in integers (the push levels' hot loop): an even i sits a quarter
    past its coarse sample's predecessor, an odd one a quarter past the sample itself."""
    k = i // 2
    if i % 2 == 1:
        return k, min(k + 1, n - 1), 0.25
    if k == 0:
        return 0, min(1, n - 1), 0.0
    return k - 1, k, 0.75


@numba.njit(cache=True, inline="always")
def _bilinear(a, c, y0, y1, fy, x0, x1, fx):
    """Channel c of ``a (C, h, w)`` sampled between rows y0, y1 and columns x0, x1 (:func:`_bilinear_index`)."""
    return ((1.0 - fy) * ((1.0 - fx) * a[c, y0, x0] + fx * a[c, y0, x1])
            + fy * ((1.0 - fx) * a[c, y1, x0] + fx * a[c, y1, x1]))


@numba.njit(cache=True, parallel=True)
def over_upsampled(below, above, s):
    """:func:`over` of ``above (C, h, w)`` upsampled s times (bilinear, as ``F.interpolate``) onto ``below
    (C, H, W)`` (H <= h·s, W <= w·s: the upsampled image cut to ``below``), without the upsampled copy: per
    output row, the two source rows are mixed once into a row of w samples, then sampled along x."""
    channels, height, width = below.shape
    h, w = above.shape[1], above.shape[2]
    xs0 = np.empty(width, np.int64)
    xs1 = np.empty(width, np.int64)
    fxs = np.empty(width, np.float32)
    for x in range(width):
        xs0[x], xs1[x], fxs[x] = _bilinear_index(x, s, w)
    for y in numba.prange(height):
        y0, y1, fy = _bilinear_index(y, s, h)
        row = np.empty((channels, w), np.float32)
        for c in range(channels):
            for x in range(w):
                row[c, x] = (1.0 - fy) * above[c, y0, x] + fy * above[c, y1, x]
        last = channels - 1
        for x in range(width):
            x0, x1, fx = xs0[x], xs1[x], fxs[x]
            alpha = min(max((1.0 - fx) * row[last, x0] + fx * row[last, x1], 0.0), 1.0)
            for c in range(last):
                below[c, y, x] = (1.0 - fx) * row[c, x0] + fx * row[c, x1] + (1.0 - alpha) * below[c, y, x]
            below[last, y, x] = alpha + (1.0 - alpha) * below[last, y, x]

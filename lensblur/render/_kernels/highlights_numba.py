"""Clipped highlights, compiled: detection, blobs, their features and the write, with the same numbers as
the readable code in ``render.classical.highlights``.

Blobs are kept as the rows' runs of clipped pixels (:func:`label`: union-find over runs, numbered as
``scipy.ndimage.label`` numbers them), never as a label image: every pass visits a blob's own pixels through
its runs, so a clipped sky costs its pixels, not its bounding box, and a photo with a few lights costs little
more than one read of it. Each blob's features come from its window (the bounding box grown by the
background ring's outer distance): the blob painted from its runs, a two-pass chamfer transform with unit
steps to all eight neighbours for the exact Chebyshev distance to it (capped just past the ring), one sweep
for its size, the background ring's size and the blur radius range, one gathering the background ring (for
the medians), one for the first ring (normalised excess) and the glow (colour). Blobs are independent:
numba's threads share them.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True)
def _chebyshev(runs_of_blob, row, start, end, y0: int, y1: int, x0: int, x1: int, cap: int) -> np.ndarray:
    """Chebyshev distance (capped at ``cap``) to the blob whose runs are ``runs_of_blob``, over the window
    ``[y0, y1) x [x0, x1)``: the blob painted from its runs, then a two-pass chamfer transform with unit
    steps to all eight neighbours, which is exact for this distance."""
    h, w = y1 - y0, x1 - x0
    dist = np.full((h, w), cap, np.uint8)
    for r in runs_of_blob:
        dist[row[r] - y0, start[r] - x0:end[r] - x0] = 0
    for y in range(h):  # forward pass: neighbours above and to the left
        for x in range(w):
            d = dist[y, x]
            if d == 0:
                continue
            if y > 0:
                d = min(d, dist[y - 1, x] + 1)
                if x > 0:
                    d = min(d, dist[y - 1, x - 1] + 1)
                if x + 1 < w:
                    d = min(d, dist[y - 1, x + 1] + 1)
            if x > 0:
                d = min(d, dist[y, x - 1] + 1)
            dist[y, x] = d
    for y in range(h - 1, -1, -1):  # backward pass: below and to the right
        for x in range(w - 1, -1, -1):
            d = dist[y, x]
            if d == 0:
                continue
            if y + 1 < h:
                d = min(d, dist[y + 1, x] + 1)
                if x > 0:
                    d = min(d, dist[y + 1, x - 1] + 1)
                if x + 1 < w:
                    d = min(d, dist[y + 1, x + 1] + 1)
            if x + 1 < w:
                d = min(d, dist[y, x + 1] + 1)
            dist[y, x] = d
    return dist


@numba.njit(parallel=True, cache=True)
def _features(image, any_clipped, boxes, row, start, end, order, first, bg_lo, bg_hi, glow_min, coc, size, ring,
              background, chroma, coc_span, coc_far):
    count = boxes.shape[0]
    height, width = any_clipped.shape
    for i in numba.prange(count):
        y0 = max(0, boxes[i, 0] - bg_hi)
        y1 = min(height, boxes[i, 1] + bg_hi)
        x0 = max(0, boxes[i, 2] - bg_hi)
        x1 = min(width, boxes[i, 3] + bg_hi)
        dist = _chebyshev(order[first[i]:first[i + 1]], row, start, end, y0, y1, x0, x1, bg_hi + 1)
        h, w = dist.shape
        n = 0
        nbg = 0
        lo = np.inf
        hi = -np.inf
        for y in range(h):  # blob size, background ring size, blur radius range within 2 px
            for x in range(w):
                d = dist[y, x]
                if d == 0:
                    n += 1
                elif bg_lo <= d <= bg_hi and not any_clipped[y0 + y, x0 + x]:
                    nbg += 1
                if d <= 2:
                    v = np.float64(coc[y0 + y, x0 + x])
                    lo = min(lo, v)
                    hi = max(hi, v)
        size[i] = n
        coc_span[i] = hi - lo
        coc_far[i] = lo
        bg_peak = 0.0
        if nbg > 0:
            buf = np.empty((4, nbg), np.float64)
            j = 0
            for y in range(h):
                for x in range(w):
                    d = dist[y, x]
                    if bg_lo <= d <= bg_hi and not any_clipped[y0 + y, x0 + x]:
                        p = 0.0
                        for c in range(3):
                            v = np.float64(image[c, y0 + y, x0 + x])
                            buf[c, j] = v
                            p = max(p, v)
                        buf[3, j] = p
                        j += 1
            for c in range(3):
                background[i, c] = np.median(buf[c])
            bg_peak = np.median(buf[3])
        scale = max(1.0 - bg_peak, 1e-3)
        near_sum = 0.0
        near_n = 0
        g0 = 0.0
        g1 = 0.0
        g2 = 0.0
        glow_n = 0
        for y in range(h):
            for x in range(w):
                d = dist[y, x]
                if d < 1 or d > 2 or any_clipped[y0 + y, x0 + x]:
                    continue
                r = np.float64(image[0, y0 + y, x0 + x])
                g = np.float64(image[1, y0 + y, x0 + x])
                b = np.float64(image[2, y0 + y, x0 + x])
                p = max(r, max(g, b))
                weight = max(p - bg_peak, 0.0)  # the brightest glow pixels carry the light's colour
                g0 += weight * max(r - background[i, 0], 0.0)
                g1 += weight * max(g - background[i, 1], 0.0)
                g2 += weight * max(b - background[i, 2], 0.0)
                glow_n += 1
                if d == 1:
                    near_sum += min(max((p - bg_peak) / scale, 0.0), 1.0)
                    near_n += 1
        if near_n > 0:
            ring[i] = near_sum / near_n
        top = max(g0, max(g1, g2))
        if glow_n > 0 and top > glow_min * glow_min * glow_n:
            chroma[i, 0] = g0 / top
            chroma[i, 1] = g1 / top
            chroma[i, 2] = g2 / top


def blob_features(image: np.ndarray, clipped: np.ndarray, labels: np.ndarray | None, count: int,
                  bg_ring: tuple[int, int], glow_min: float, coc: np.ndarray | None = None, blobs=None):
    """:class:`~lensblur.render.classical.highlights.BlobFeatures` of blobs 1..count (compiled).

    ``clipped`` is the ``(3, H, W)`` per-channel mask or the ``(H, W)`` any-channel mask. The blobs are
    ``labels`` (8-connected components numbered as ``scipy.ndimage.label`` numbers them) or, when already
    known, ``blobs = (boxes, row, start, end, order, first)`` from :func:`label` and :func:`blob_runs`
    (then ``labels`` may be None).
    """
    from ..classical.highlights import BlobFeatures

    any_clipped = clipped.any(axis=0) if clipped.ndim == 3 else clipped
    if blobs is None:
        n, boxes, (offsets, start, end, run_label) = label(np.asarray(labels) > 0)
        if n != count:
            raise ValueError(f"labels hold {n} 8-connected blobs, not count={count}")
        row, order, first = blob_runs(offsets, run_label, count)
        blobs = (boxes, row, start, end, order, first)
    boxes, row, start, end, order, first = blobs
    size = np.zeros(count)
    ring = np.zeros(count)
    background = np.zeros((count, 3))
    chroma = np.ones((count, 3))
    span = np.zeros(count)
    far = np.zeros(count)
    coc = np.zeros(any_clipped.shape, np.float32) if coc is None else np.ascontiguousarray(coc, np.float32)
    _features(np.ascontiguousarray(image, np.float32), np.ascontiguousarray(any_clipped), boxes, row, start, end,
              order, first, bg_ring[0], bg_ring[1], glow_min, coc, size, ring, background, chroma, span, far)
    return BlobFeatures(size, ring, background, chroma, span, far)


@numba.njit(parallel=True, cache=True)
def detect(image: np.ndarray, level: float, copy: np.ndarray) -> tuple[np.ndarray, int]:
    """``(H, W)`` uint8 mask of pixels with any channel at or above ``level``, and its count; the image is
    copied into ``copy`` on the way (one read of the photo for both: the reconstruction writes into a copy)."""
    _, height, width = image.shape
    mask = np.zeros((height, width), np.uint8)
    counts = np.zeros(height, np.int64)
    lv = np.float32(level)
    for y in numba.prange(height):
        n = 0
        for x in range(width):
            r, g, b = image[0, y, x], image[1, y, x], image[2, y, x]
            copy[0, y, x] = r
            copy[1, y, x] = g
            copy[2, y, x] = b
            if r >= lv or g >= lv or b >= lv:
                mask[y, x] = 1
                n += 1
        counts[y] = n
    return mask, counts.sum()


@numba.njit(cache=True)
def blob_boxes(labels: np.ndarray, count: int) -> np.ndarray:
    """``(count, 5)``: bounding boxes ``[y0, y1, x0, x1)`` of labels 1..count, and the column of each
    blob's first pixel in row order (a pixel of the blob in row y0)."""
    boxes = np.empty((count, 5), np.int64)
    boxes[:, 0] = labels.shape[0]
    boxes[:, 1] = -1
    boxes[:, 2] = labels.shape[1]
    boxes[:, 3] = -1
    for y in range(labels.shape[0]):
        for x in range(labels.shape[1]):
            k = labels[y, x]
            if k > 0:
                i = k - 1
                if boxes[i, 1] < 0:
                    boxes[i, 4] = x
                boxes[i, 0] = min(boxes[i, 0], y)
                boxes[i, 1] = max(boxes[i, 1], y + 1)
                boxes[i, 2] = min(boxes[i, 2], x)
                boxes[i, 3] = max(boxes[i, 3], x + 1)
    return boxes


@numba.njit(cache=True)
def blob_runs(offsets: np.ndarray, run_label: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The runs of each blob (from :func:`label`): ``(row, order, first)``, each run's row, and the runs of
    blob i (label i + 1) at ``order[first[i]:first[i + 1]]``, in raster order. The kernels below visit a
    blob's pixels through them, never the rest of its bounding box (a clipped sky's box is most of a frame)."""
    runs = run_label.shape[0]
    row = np.empty(runs, np.int64)
    for y in range(offsets.shape[0] - 1):
        for r in range(offsets[y], offsets[y + 1]):
            row[r] = y
    first = np.zeros(count + 1, np.int64)
    for r in range(runs):
        first[run_label[r]] += 1
    for i in range(count):
        first[i + 1] += first[i]
    order = np.empty(runs, np.int64)
    fill = first[:count].copy()
    for r in range(runs):
        i = run_label[r] - 1
        order[fill[i]] = r
        fill[i] += 1
    return row, order, first


@numba.njit(parallel=True, cache=True)
def tighten_chroma(image, level, row, start, end, order, first, chroma, background):
    """The compiled form of ``render.classical.highlights.tighten_chroma``, in place on ``chroma``; the blobs'
    pixels come from :func:`blob_runs`."""
    lv = np.float32(level)
    for i in numba.prange(first.shape[0] - 1):
        bound = np.full((3, 3), np.inf)      # bound[j, c]: the light's chroma j <= bound · chroma c
        for q in range(first[i], first[i + 1]):
            r = order[q]
            y = row[r]
            for x in range(start[r], end[r]):
                for c in range(3):
                    if image[c, y, x] < lv:
                        continue
                    for j in range(3):
                        v = np.float64(image[j, y, x])
                        if v < lv:
                            b = max(v - background[i, j], 0.0) / max(1.0 - background[i, c], 1e-3)
                            bound[j, c] = min(bound[j, c], b)
        for _ in range(2):
            for c in range(3):
                for j in range(3):
                    if j != c and bound[j, c] < np.inf:
                        chroma[i, j] = min(chroma[i, j], bound[j, c] * chroma[i, c])
        top = max(chroma[i, 0], chroma[i, 1], chroma[i, 2])
        for c in range(3):
            chroma[i, c] = chroma[i, c] / top if top > 0.0 else 1.0


@numba.njit(parallel=True, cache=True)
def apply_in_place(out, level, row, start, end, order, first, gain, limit, chroma, background, coc, coc_far,
                   jump_px, ratio_min, near_share):
    """The compiled form of ``render.classical.highlights._apply``, writing into ``out`` (3, H, W); the blobs'
    pixels come from :func:`blob_runs`."""
    lv = np.float32(level)
    for i in numba.prange(first.shape[0] - 1):
        # the surface the light lies on: the farthest around it, unless almost none of its pixels are there
        size = 0
        on_far = 0
        nearest = -np.inf
        for q in range(first[i], first[i + 1]):
            r = order[q]
            y = row[r]
            for x in range(start[r], end[r]):
                size += 1
                if coc[y, x] <= coc_far[i] + jump_px:
                    on_far += 1
                nearest = max(nearest, np.float64(coc[y, x]))
        low, high = -np.inf, coc_far[i] + jump_px
        if on_far < near_share * size:
            low, high = nearest - jump_px, np.inf
        for q in range(first[i], first[i + 1]):
            r = order[q]
            y = row[r]
            for x in range(start[r], end[r]):
                if coc[y, x] > high or coc[y, x] < low:
                    continue
                ratio = -1.0
                for c in range(3):
                    v = np.float64(out[c, y, x])
                    if v < lv and chroma[i, c] >= ratio_min:
                        ratio = max(ratio, max(v - background[i, c], 0.0) / max(chroma[i, c], ratio_min))
                for c in range(3):
                    v = np.float64(out[c, y, x])
                    if v < lv:
                        continue
                    if ratio >= 0:
                        estimate = background[i, c] + ratio * chroma[i, c]
                    else:
                        estimate = (1.0 + gain[i]) * chroma[i, c]
                    out[c, y, x] = np.float32(max(v, min(estimate, 1.0 + limit[i])))


@numba.njit(parallel=True, cache=True)
def _row_runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The runs of set pixels, row by row: ``offsets`` (H + 1; row y's runs are offsets[y]:offsets[y + 1]),
    and each run's ``start`` and ``end`` column (half-open), in raster order."""
    height, width = mask.shape
    per_row = np.zeros(height + 1, np.int64)
    for y in numba.prange(height):
        n = 0
        previous = 0
        for x in range(width):
            v = mask[y, x]
            if v and not previous:
                n += 1
            previous = v
        per_row[y + 1] = n
    offsets = np.cumsum(per_row)
    start = np.empty(offsets[-1], np.int64)
    end = np.empty(offsets[-1], np.int64)
    for y in numba.prange(height):
        r = offsets[y]
        previous = 0
        for x in range(width):
            v = mask[y, x]
            if v and not previous:
                start[r] = x
            elif previous and not v:
                end[r] = x
                r += 1
            previous = v
        if previous:
            end[r] = width
    return offsets, start, end


@numba.njit(cache=True)
def _root(parent: np.ndarray, r: int) -> int:
    while parent[r] != r:
        parent[r] = parent[parent[r]]
        r = parent[r]
    return r


@numba.njit(cache=True)
def _run_labels(offsets: np.ndarray, start: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, int]:
    """Each run's component label (1..count, numbered in raster order of the components' first pixels, as
    ``scipy.ndimage.label`` numbers them): runs in neighbouring rows that overlap or touch diagonally are one
    component (8-connectivity). Union-find over runs, the earliest run the root of its component."""
    runs = start.shape[0]
    parent = np.arange(runs)
    for y in range(1, offsets.shape[0] - 1):
        a, above_end = offsets[y - 1], offsets[y]
        for r in range(offsets[y], offsets[y + 1]):
            while a < above_end and end[a] < start[r]:  # ends before this run's left diagonal
                a += 1
            b = a
            while b < above_end and start[b] <= end[r]:  # starts at or before this run's right diagonal
                ra, rb = _root(parent, r), _root(parent, b)
                if ra != rb:
                    parent[max(ra, rb)] = min(ra, rb)
                b += 1
    label = np.zeros(runs, np.int32)
    count = 0
    for r in range(runs):
        root = _root(parent, r)
        if root == r:
            count += 1
            label[r] = count
        else:
            label[r] = label[root]
    return label, count


@numba.njit(cache=True)
def _run_boxes(offsets, start, end, label, count, height, width):
    boxes = np.empty((count, 5), np.int64)
    boxes[:, 0] = height
    boxes[:, 1] = -1
    boxes[:, 2] = width
    boxes[:, 3] = -1
    for y in range(height):
        for r in range(offsets[y], offsets[y + 1]):
            i = label[r] - 1
            if boxes[i, 1] < 0:
                boxes[i, 4] = start[r]
            boxes[i, 0] = min(boxes[i, 0], y)
            boxes[i, 1] = max(boxes[i, 1], y + 1)
            boxes[i, 2] = min(boxes[i, 2], start[r])
            boxes[i, 3] = max(boxes[i, 3], end[r])
    return boxes


def label(mask: np.ndarray) -> tuple[int, np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """8-connected components of a ``(H, W)`` uint8 or bool mask, by runs: ``(count, boxes, runs)`` with
    ``boxes`` as :func:`blob_boxes` gives them and ``runs`` the rows' runs of set pixels, ``(offsets,
    start, end, label)``, labels numbered as ``scipy.ndimage.label`` numbers them (:func:`paint_labels`
    draws that image; :func:`run_tiles` and :func:`blob_runs` take the runs). After one scan of the mask
    only its runs are visited, and no label image is made: a photo with a few lights costs little more
    than reading its mask."""
    mask = np.ascontiguousarray(mask).view(np.uint8)
    offsets, start, end = _row_runs(mask)
    run_label, count = _run_labels(offsets, start, end)
    boxes = _run_boxes(offsets, start, end, run_label, count, mask.shape[0], mask.shape[1])
    return count, boxes, (offsets, start, end, run_label)


def paint_labels(runs, shape: tuple[int, int]) -> np.ndarray:
    """The ``(H, W)`` int32 label image of :func:`label`'s ``runs`` (0 where no blob)."""
    labels = np.zeros(shape, np.int32)
    _paint(*runs, labels)
    return labels


@numba.njit(cache=True)
def _paint(offsets, start, end, run_label, labels):
    for y in range(offsets.shape[0] - 1):
        for r in range(offsets[y], offsets[y + 1]):
            labels[y, start[r]:end[r]] = run_label[r]


@numba.njit(cache=True)
def run_tiles(offsets: np.ndarray, start: np.ndarray, end: np.ndarray, width: int, cell: int) -> np.ndarray:
    """``(ceil(H / cell), ceil(W / cell))`` uint8: which ``cell`` x ``cell`` tiles hold a pixel of these runs
    (from :func:`label`), visiting only the runs."""
    height = offsets.shape[0] - 1
    tiles = np.zeros(((height + cell - 1) // cell, (width + cell - 1) // cell), np.uint8)
    for y in range(height):
        for r in range(offsets[y], offsets[y + 1]):
            tiles[y // cell, start[r] // cell:(end[r] - 1) // cell + 1] = 1
    return tiles

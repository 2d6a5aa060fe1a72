"""Per-blob features of clipped highlights, compiled: the same numbers as
``render.classical.highlights.blob_features_reference``, one pass over each blob's window.

Each blob's window is its bounding box grown by the background ring's outer distance. In it, a two-pass
chamfer transform with unit steps to all eight neighbours gives the exact Chebyshev distance to the blob
(capped just past the ring), and one sweep gathers the background ring (for the medians), then one more
the first ring (normalised excess), the glow (colour) and the spread of the blur radius over the blob
and its first two rings. Blobs are independent: numba's threads share them.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True)
def _chebyshev(mask: np.ndarray, cap: int) -> np.ndarray:
    h, w = mask.shape
    dist = np.full((h, w), cap, np.int32)
    for y in range(h):
        for x in range(w):
            if mask[y, x]:
                dist[y, x] = 0
    for y in range(h):  # forward pass: neighbours above and to the left
        for x in range(w):
            d = dist[y, x]
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
def _features(image, any_clipped, labels, boxes, bg_lo, bg_hi, glow_min, coc, size, ring, background, chroma,
              coc_span, coc_far):
    count = boxes.shape[0]
    height, width = labels.shape
    for i in numba.prange(count):
        k = i + 1
        y0 = max(0, boxes[i, 0] - bg_hi)
        y1 = min(height, boxes[i, 1] + bg_hi)
        x0 = max(0, boxes[i, 2] - bg_hi)
        x1 = min(width, boxes[i, 3] + bg_hi)
        blob = labels[y0:y1, x0:x1] == k
        dist = _chebyshev(blob, bg_hi + 1)
        h, w = blob.shape
        n = 0
        nbg = 0
        for y in range(h):
            for x in range(w):
                if blob[y, x]:
                    n += 1
                elif bg_lo <= dist[y, x] <= bg_hi and not any_clipped[y0 + y, x0 + x]:
                    nbg += 1
        size[i] = n
        bg_peak = 0.0
        if nbg > 0:
            buf = np.empty((4, nbg), np.float64)
            j = 0
            for y in range(h):
                for x in range(w):
                    if not blob[y, x] and bg_lo <= dist[y, x] <= bg_hi and not any_clipped[y0 + y, x0 + x]:
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
        lo = np.inf
        hi = -np.inf
        for y in range(h):
            for x in range(w):
                if dist[y, x] <= 2:
                    v = np.float64(coc[y0 + y, x0 + x])
                    lo = min(lo, v)
                    hi = max(hi, v)
        coc_span[i] = hi - lo
        coc_far[i] = lo
        near_sum = 0.0
        near_n = 0
        glow = np.zeros(3)
        glow_n = 0
        for y in range(h):
            for x in range(w):
                d = dist[y, x]
                if d < 1 or d > 2 or any_clipped[y0 + y, x0 + x]:
                    continue
                p = 0.0
                for c in range(3):
                    p = max(p, np.float64(image[c, y0 + y, x0 + x]))
                weight = max(p - bg_peak, 0.0)  # the brightest glow pixels carry the light's colour
                for c in range(3):
                    glow[c] += weight * max(np.float64(image[c, y0 + y, x0 + x]) - background[i, c], 0.0)
                glow_n += 1
                if d == 1:
                    near_sum += min(max((p - bg_peak) / scale, 0.0), 1.0)
                    near_n += 1
        if near_n > 0:
            ring[i] = near_sum / near_n
        top = max(glow[0], max(glow[1], glow[2]))
        if glow_n > 0 and top > glow_min * glow_min * glow_n:
            for c in range(3):
                chroma[i, c] = glow[c] / top


def blob_features(image: np.ndarray, clipped: np.ndarray, labels: np.ndarray, count: int,
                  bg_ring: tuple[int, int], glow_min: float, coc: np.ndarray | None = None,
                  boxes: np.ndarray | None = None):
    """:class:`~lensblur.render.classical.highlights.BlobFeatures` of blobs 1..count (compiled).

    ``clipped`` is the ``(3, H, W)`` per-channel mask or the ``(H, W)`` any-channel mask; ``boxes`` the
    :func:`blob_boxes` when already known.
    """
    from ..classical.highlights import BlobFeatures

    if boxes is None:
        boxes = blob_boxes(np.ascontiguousarray(labels, np.int32), count)
    size = np.zeros(count)
    ring = np.zeros(count)
    background = np.zeros((count, 3))
    chroma = np.ones((count, 3))
    span = np.zeros(count)
    far = np.zeros(count)
    coc = np.zeros(labels.shape, np.float32) if coc is None else np.ascontiguousarray(coc, np.float32)
    any_clipped = clipped.any(axis=0) if clipped.ndim == 3 else clipped
    _features(np.ascontiguousarray(image, np.float32), np.ascontiguousarray(any_clipped),
              np.ascontiguousarray(labels, np.int32), boxes, bg_ring[0], bg_ring[1], glow_min, coc, size, ring,
              background, chroma, span, far)
    return BlobFeatures(size, ring, background, chroma, span, far)


@numba.njit(parallel=True, cache=True)
def detect(image: np.ndarray, level: float) -> tuple[np.ndarray, int]:
    """``(H, W)`` uint8 mask of pixels with any channel at or above ``level``, and its count."""
    _, height, width = image.shape
    mask = np.zeros((height, width), np.uint8)
    counts = np.zeros(height, np.int64)
    lv = np.float32(level)
    for y in numba.prange(height):
        n = 0
        for x in range(width):
            if image[0, y, x] >= lv or image[1, y, x] >= lv or image[2, y, x] >= lv:
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


@numba.njit(parallel=True, cache=True)
def tighten_chroma(image, level, labels, boxes, chroma, background):
    """The compiled form of ``render.classical.highlights.tighten_chroma``, in place on ``chroma``."""
    lv = np.float32(level)
    for i in numba.prange(boxes.shape[0]):
        k = i + 1
        bound = np.full((3, 3), np.inf)      # bound[j, c]: the light's chroma j <= bound · chroma c
        for y in range(boxes[i, 0], boxes[i, 1]):
            for x in range(boxes[i, 2], boxes[i, 3]):
                if labels[y, x] != k:
                    continue
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
def apply_in_place(out, level, labels, boxes, gain, limit, chroma, background, coc, coc_far, jump_px, ratio_min,
                   near_share):
    """The compiled form of ``render.classical.highlights._apply``, writing into ``out`` (3, H, W)."""
    lv = np.float32(level)
    for i in numba.prange(boxes.shape[0]):
        k = i + 1
        # the surface the light lies on: the farthest around it, unless almost none of its pixels are there
        size = 0
        on_far = 0
        nearest = -np.inf
        for y in range(boxes[i, 0], boxes[i, 1]):
            for x in range(boxes[i, 2], boxes[i, 3]):
                if labels[y, x] == k:
                    size += 1
                    if coc[y, x] <= coc_far[i] + jump_px:
                        on_far += 1
                    nearest = max(nearest, np.float64(coc[y, x]))
        low, high = -np.inf, coc_far[i] + jump_px
        if on_far < near_share * size:
            low, high = nearest - jump_px, np.inf
        for y in range(boxes[i, 0], boxes[i, 1]):
            for x in range(boxes[i, 2], boxes[i, 3]):
                if labels[y, x] != k or coc[y, x] > high or coc[y, x] < low:
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
def tiles_any(mask: np.ndarray, cell: int) -> np.ndarray:
    """``(ceil(H / cell), ceil(W / cell))`` uint8: which ``cell`` x ``cell`` tiles hold a set pixel."""
    height, width = mask.shape
    th, tw = (height + cell - 1) // cell, (width + cell - 1) // cell
    tiles = np.zeros((th, tw), np.uint8)
    for ty in numba.prange(th):
        for y in range(ty * cell, min(height, ty * cell + cell)):
            for x in range(width):
                if mask[y, x]:
                    tiles[ty, x // cell] = 1
    return tiles

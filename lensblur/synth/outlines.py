"""Alpha outlines for scene layers, from easy (smooth blobs) to hard (twigs, hair-like strands, holes).

Each outline is drawn at ``_SUPERSAMPLE`` times the canvas resolution and box-filtered down, so its
alpha is the exact-ish area coverage of every pixel (anti-aliased, as a camera would record it). The
families are split like the textures: the public test set uses outline families that the training
split never draws.
"""

from __future__ import annotations

import math

import numpy as np

from .._optional import require

__all__ = ["OUTLINE_FAMILIES", "make_outline"]

OUTLINE_FAMILIES = {
    "train": ("blob", "perforated", "twigs", "strands"),
    "test": ("superformula", "lattice", "fronds"),
}
_SUPERSAMPLE = 4


def _cv2():
    return require("cv2", extra="all", feature="synthetic scene outlines")


def _downsample(mask: np.ndarray, height: int, width: int) -> np.ndarray:
    return _cv2().resize(mask.astype(np.float32), (width, height), interpolation=_cv2().INTER_AREA)


def _smooth_field(rng: np.random.Generator, height: int, width: int, cell_px: float) -> np.ndarray:
    gh, gw = max(2, int(height / cell_px) + 2), max(2, int(width / cell_px) + 2)
    return _cv2().resize(rng.standard_normal((gh, gw)).astype(np.float32), (width, height),
                         interpolation=_cv2().INTER_CUBIC)


def _blob_field(rng, height, width):
    """A smooth signed field whose positive part is one irregular blob (at supersampled size)."""
    cy, cx = rng.uniform(0.2, 0.8) * height, rng.uniform(0.2, 0.8) * width
    ry, rx = rng.uniform(0.12, 0.35) * height, rng.uniform(0.12, 0.35) * width
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    envelope = 1.0 - ((y - cy) / ry) ** 2 - ((x - cx) / rx) ** 2
    wobble = _smooth_field(rng, height, width, min(ry, rx) * 0.7) * 0.45
    return envelope + wobble, (cy, cx, ry, rx)


def _blob(rng, h, w):
    field, _ = _blob_field(rng, h, w)
    return field > 0


def _perforated(rng, h, w):
    field, (cy, cx, ry, rx) = _blob_field(rng, h, w)
    mask = field > 0
    holes = _smooth_field(rng, h, w, min(ry, rx) * rng.uniform(0.08, 0.2))
    return mask & (holes < rng.uniform(0.6, 1.2))


def _polyline_mask(h, w, strokes):
    """Draw (points (n, 2) in px, thickness px) strokes into a boolean mask."""
    cv2 = _cv2()
    canvas = np.zeros((h, w), np.uint8)
    for points, thickness in strokes:
        pts = np.round(points).astype(np.int32).reshape(-1, 1, 2)
        cv2.polylines(canvas, [pts], False, 255, thickness=max(1, int(round(thickness))), lineType=cv2.LINE_8)
    return canvas > 0


def _twigs(rng, h, w):
    s = _SUPERSAMPLE
    strokes = []
    stack = [(rng.uniform(0, w), h - 1.0, -math.pi / 2 + rng.uniform(-0.5, 0.5), rng.uniform(0.3, 0.6) * h,
              rng.uniform(2.0, 4.0) * s, 0)]
    while stack:
        x, y, angle, length, width, depth = stack.pop()
        n = 12
        bend = rng.uniform(-0.4, 0.4) / n
        pts = []
        for _ in range(n + 1):
            pts.append((x, y))
            angle += bend
            x += math.cos(angle) * length / n
            y += math.sin(angle) * length / n
        strokes.append((np.array(pts), width))
        if depth < 4:
            for _ in range(int(rng.integers(1, 4))):
                k = int(rng.integers(3, n + 1))
                bx, by = pts[k] if k < len(pts) else pts[-1]
                stack.append((bx, by, angle + rng.uniform(-1.0, 1.0), length * rng.uniform(0.35, 0.7),
                              max(0.5 * s, width * 0.65), depth + 1))
    return _polyline_mask(h, w, strokes)


def _strands(rng, h, w):
    """Hair-like strands: many thin, gently curved lines from a common root region."""
    s = _SUPERSAMPLE
    root_x, root_y = rng.uniform(0.2, 0.8) * w, rng.uniform(0.0, 0.4) * h
    strokes = []
    for _ in range(int(rng.integers(30, 120))):
        x0 = root_x + rng.normal(0, 0.06 * w)
        y0 = root_y + rng.normal(0, 0.03 * h)
        c = np.array([x0 + rng.normal(0, 0.15 * w), y0 + rng.uniform(0.1, 0.4) * h])
        e = np.array([x0 + rng.normal(0, 0.2 * w), y0 + rng.uniform(0.3, 0.7) * h])
        t = np.linspace(0, 1, 40)[:, None]
        pts = (1 - t) ** 2 * np.array([x0, y0]) + 2 * (1 - t) * t * c + t ** 2 * e
        strokes.append((pts, rng.uniform(0.5, 1.5) * s))
    return _polyline_mask(h, w, strokes)


def _superformula(rng, h, w):
    cv2 = _cv2()
    m = int(rng.integers(2, 9))
    n1, n2, n3 = rng.uniform(0.3, 4.0), rng.uniform(0.5, 4.0), rng.uniform(0.5, 4.0)
    theta = np.linspace(0, 2 * math.pi, 2048, endpoint=False)
    r = (np.abs(np.cos(m * theta / 4)) ** n2 + np.abs(np.sin(m * theta / 4)) ** n3) ** (-1 / n1)
    r = r / r.max() * rng.uniform(0.15, 0.4) * min(h, w)
    cy, cx = rng.uniform(0.25, 0.75) * h, rng.uniform(0.25, 0.75) * w
    rot = rng.uniform(0, 2 * math.pi)
    pts = np.stack([cx + r * np.cos(theta + rot), cy + r * np.sin(theta + rot)], axis=1)
    canvas = np.zeros((h, w), np.uint8)
    cv2.fillPoly(canvas, [np.round(pts).astype(np.int32)], 255)
    return canvas > 0


def _lattice(rng, h, w):
    """A fence: a rotated grid of thin bars inside an ellipse (holes everywhere, thin edges)."""
    s = _SUPERSAMPLE
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    angle = rng.uniform(0, math.pi / 2)
    u = x * math.cos(angle) + y * math.sin(angle)
    v = -x * math.sin(angle) + y * math.cos(angle)
    spacing = rng.uniform(8.0, 40.0) * s
    bar = rng.uniform(1.0, 4.0) * s
    bars = ((u % spacing) < bar) | ((v % spacing) < bar)
    cy, cx = rng.uniform(0.3, 0.7) * h, rng.uniform(0.3, 0.7) * w
    ry, rx = rng.uniform(0.2, 0.45) * h, rng.uniform(0.2, 0.45) * w
    return bars & (((y - cy) / ry) ** 2 + ((x - cx) / rx) ** 2 < 1.0)


def _fronds(rng, h, w):
    """Fern-like fronds: a curved stem with alternating thin leaflets."""
    s = _SUPERSAMPLE
    strokes = []
    for _ in range(int(rng.integers(1, 4))):
        x, y = rng.uniform(0.1, 0.9) * w, h - 1.0
        angle = -math.pi / 2 + rng.uniform(-0.6, 0.6)
        length = rng.uniform(0.4, 0.8) * h
        n = 40
        stem = []
        for _ in range(n + 1):
            stem.append((x, y))
            angle += rng.uniform(-0.03, 0.03)
            x += math.cos(angle) * length / n
            y += math.sin(angle) * length / n
        strokes.append((np.array(stem), rng.uniform(1.0, 3.0) * s))
        for i in range(2, n, 2):
            side = 1 if (i // 2) % 2 else -1
            leaf_angle = angle + side * rng.uniform(0.6, 1.2)
            leaf_len = length * 0.18 * (1 - i / n) + 2 * s
            bx, by = stem[i]
            tip = (bx + math.cos(leaf_angle) * leaf_len, by + math.sin(leaf_angle) * leaf_len)
            strokes.append((np.array([stem[i], tip]), rng.uniform(0.6, 1.8) * s))
    return _polyline_mask(h, w, strokes)


_GENERATORS = {
    "blob": _blob, "perforated": _perforated, "twigs": _twigs, "strands": _strands,
    "superformula": _superformula, "lattice": _lattice, "fronds": _fronds,
}


def make_outline(rng: np.random.Generator, split: str, height: int, width: int,
                 family: str | None = None) -> tuple[np.ndarray, str]:
    """A random anti-aliased alpha mask: ``((height, width) float32 in [0, 1], family name)``."""
    family = family or str(rng.choice(OUTLINE_FAMILIES[split]))
    if family not in OUTLINE_FAMILIES[split]:
        raise ValueError(f"outline family {family!r} is not in the {split!r} split {OUTLINE_FAMILIES[split]}")
    mask = _GENERATORS[family](rng, height * _SUPERSAMPLE, width * _SUPERSAMPLE)
    return np.clip(_downsample(mask, height, width), 0.0, 1.0), family

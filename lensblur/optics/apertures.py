"""Aperture shapes as row-span tables: the one definition of "how much of pixel (dx, dy) a blur disc covers".

Every renderer (the readable reference, the numba kernel and the torch kernel) takes its aperture
footprint from the functions here, so they agree by construction.

The footprint of a source with blur radius r (px) is defined row by row. The shape, scaled to radius
rho = max(r, 0.5) (a blur spot is never smaller than one pixel), is cut into strips one pixel high;
strip dy spans rows [dy - 0.5, dy + 0.5]. Within a strip the shape is replaced by a horizontal span
[xl, xr] whose ends are the mean left and right boundaries over the strip, weighted by L, the height
of the strip that lies inside the shape (1 everywhere except the top and bottom strips). A pixel's
coverage is L times the length of its overlap with the span. So:

* each strip carries exactly the area of the shape inside it, and the footprint's total is the
  shape's area (pi r^2 for a circle);
* every coverage varies continuously with r: no popping when a radius moves by a fraction of a pixel;
* the left and right edges are anti-aliased over about 1 px, and the top and bottom strips fade
  with L, which is what makes the span representation exact for a fast row-span renderer (each
  strip is one run of full pixels plus one partial pixel at each end).

The boundary of the unit shape (circumradius 1) is stored as cumulative integrals of its left and
right x over y, sampled on a fine uniform grid and read by linear interpolation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from ..types import Aperture

__all__ = [
    "MIN_RADIUS_PX",
    "SpanTable",
    "span_table",
    "row_span",
    "row_rows",
    "footprint",
    "outline_radius",
]

# A blur spot cannot be smaller than the pixel it is recorded by; below this radius the footprint stays
# that of a 1-px-diameter disc, and a radius of 0 leaves a pixel exactly as it was.
MIN_RADIUS_PX = 0.5

_GRID = 4097  # samples of the cumulative boundary integrals over the shape's height


@dataclass(frozen=True, eq=False)
class SpanTable:
    """The unit aperture (circumradius 1, y pointing down) as cumulative boundary integrals.

    Attributes:
        ymin: top of the shape (negative: above the centre).
        ymax: bottom of the shape.
        cxl: cumulative integral of the left boundary x over y, from ymin, on a uniform grid.
        cxr: the same for the right boundary.
        area: area of the unit shape (pi for the circle).
        cells: the same integrals per grid cell i as (cxl[i], cxr[i], cxl[i+1] - cxl[i],
            cxr[i+1] - cxr[i]), shape (n - 1, 4): one interpolated read of both is one 4-float load
            (the CPU kernel's layout).
        mirror: the shape is symmetric about its horizontal axis (to rounding), so the strips at row
            offsets dy and -dy are equal; the CPU kernel then computes each pair once.
    """

    ymin: float
    ymax: float
    cxl: np.ndarray
    cxr: np.ndarray
    area: float
    cells: np.ndarray = field(init=False, repr=False)
    mirror: bool = field(init=False)

    def __post_init__(self) -> None:
        cells = np.stack([self.cxl[:-1], self.cxr[:-1], np.diff(self.cxl), np.diff(self.cxr)], axis=1)
        object.__setattr__(self, "cells", np.ascontiguousarray(cells, dtype=np.float64))
        object.__setattr__(self, "mirror", self.ymin == -self.ymax and _symmetric(self.cxl) and _symmetric(self.cxr))


def _symmetric(cumulative: np.ndarray, tol: float = 1e-12) -> bool:
    """Whether a cumulative boundary integral on a grid symmetric about y = 0 comes from x(-y) = x(y).

    Then the integral from the top to y_i equals the one from -y_i to the bottom: c[i] + c[n-1-i] = c[-1].
    """
    return bool(np.all(np.abs(cumulative + cumulative[::-1] - cumulative[-1]) <= tol))


def outline_radius(theta: np.ndarray, aperture: Aperture) -> np.ndarray:
    """Boundary radius of the unit aperture at angle ``theta`` (radians, counter-clockwise, y up).

    A regular n-gon has circumradius 1 and its first vertex at 90° + rotation (straight up at
    rotation 0); roundness blends it radially towards the unit circle.
    """
    if aperture.blades is None:
        return np.ones_like(theta)
    n = aperture.blades
    sector = 2.0 * math.pi / n
    vertex = math.pi / 2 + math.radians(aperture.rotation_deg)
    phase = np.mod(theta - vertex, sector) - sector / 2
    polygon = math.cos(math.pi / n) / np.cos(phase)
    return (1.0 - aperture.roundness) * polygon + aperture.roundness


def span_table(aperture: Aperture) -> SpanTable:
    """Build (and cache) the span table of a parametric aperture (circle or blades)."""
    if aperture.kernel is not None:
        raise ValueError("custom kernel apertures have no span table; use kernel_bins() instead")
    return _span_table(aperture.blades, float(aperture.rotation_deg) % 360.0, float(aperture.roundness))


@lru_cache(maxsize=32)
def _span_table(blades: int | None, rotation_deg: float, roundness: float) -> SpanTable:
    if blades is None or roundness == 1.0:
        y = np.linspace(-1.0, 1.0, _GRID)
        # exact antiderivative of sqrt(1 - y^2) from -1
        half = 0.5 * (y * np.sqrt(np.clip(1.0 - y * y, 0.0, None)) + np.arcsin(y)) + math.pi / 4
        return SpanTable(-1.0, 1.0, -half, half, math.pi)

    aperture = Aperture(blades=blades, rotation_deg=rotation_deg, roundness=roundness)
    theta = np.linspace(0.0, 2.0 * math.pi, 8192, endpoint=False)
    radius = outline_radius(theta, aperture)
    px = radius * np.cos(theta)
    py = -radius * np.sin(theta)  # image rows grow downwards
    ymin, ymax = float(py.min()), float(py.max())
    y = np.linspace(ymin, ymax, _GRID)
    x0, y0 = px, py
    x1, y1 = np.roll(px, -1), np.roll(py, -1)
    xl = np.empty(_GRID)
    xr = np.empty(_GRID)
    for start in range(0, _GRID, 256):
        yy = y[start:start + 256, None]
        lo_y, hi_y = np.minimum(y0, y1), np.maximum(y0, y1)
        crosses = (yy >= lo_y) & (yy <= hi_y) & (hi_y > lo_y)
        t = np.where(crosses, (yy - y0) / np.where(hi_y > lo_y, y1 - y0, 1.0), 0.0)
        x = x0 + t * (x1 - x0)
        xl[start:start + 256] = np.where(crosses, x, np.inf).min(axis=1)
        xr[start:start + 256] = np.where(crosses, x, -np.inf).max(axis=1)
    # the extreme rows can miss every edge by rounding: take the nearest vertex there
    bad = ~np.isfinite(xl) | ~np.isfinite(xr)
    if bad.any():
        for i in np.flatnonzero(bad):
            j = int(np.argmin(np.abs(py - y[i])))
            xl[i] = xr[i] = px[j]
    step = (ymax - ymin) / (_GRID - 1)
    cxl = np.concatenate([[0.0], np.cumsum(0.5 * (xl[1:] + xl[:-1]) * step)])
    cxr = np.concatenate([[0.0], np.cumsum(0.5 * (xr[1:] + xr[:-1]) * step)])
    if _symmetric_top_to_bottom(blades, rotation_deg):
        # an even blade count, or an odd one turned by half a blade: remove the sampling's rounding
        # (up to 2e-4 where a blade edge is level) so that the table is exactly so (SpanTable.mirror)
        ymax = 0.5 * (ymax - ymin)
        ymin = -ymax
        cxl = 0.5 * (cxl + cxl[-1] - cxl[::-1])
        cxr = 0.5 * (cxr + cxr[-1] - cxr[::-1])
    return SpanTable(ymin, ymax, cxl, cxr, float(cxr[-1] - cxl[-1]))


def _symmetric_top_to_bottom(blades: int, rotation_deg: float) -> bool:
    """Whether an n-gon (any roundness) is its own mirror image in the horizontal axis.

    Mirroring maps the vertex at angle v to -v; the vertices v + k·360/n map onto themselves exactly
    when 2v is a multiple of 360/n (v = 90° + rotation).
    """
    sector = 360.0 / blades
    turns = (2.0 * (90.0 + rotation_deg)) / sector
    return abs(turns - round(turns)) < 1e-9


def _lerp(table: np.ndarray, ymin: float, ymax: float, t: float) -> float:
    """Linear interpolation of a uniformly sampled table on [ymin, ymax] at t (clamped)."""
    n = table.shape[0]
    u = (t - ymin) / (ymax - ymin) * (n - 1)
    if u <= 0.0:
        return table[0]
    if u >= n - 1:
        return table[n - 1]
    i = int(u)
    f = u - i
    return table[i] * (1.0 - f) + table[i + 1] * f


def row_rows(rho: float, ymin: float, ymax: float) -> tuple[int, int]:
    """First and last row offset dy whose strip [dy - 0.5, dy + 0.5] meets the shape of radius rho."""
    return math.floor(rho * ymin - 0.5) + 1, math.ceil(rho * ymax + 0.5) - 1


def row_span(rho: float, dy: int, ymin: float, ymax: float, cxl: np.ndarray,
             cxr: np.ndarray) -> tuple[float, float, float]:
    """The strip at row offset dy of a shape of radius rho: (L, xl, xr) in px.

    L is the height of the strip inside the shape (0..1), [xl, xr] the mean boundary span relative to
    the source column. The strip's area is L·(xr − xl).
    """
    t0 = max((dy - 0.5) / rho, ymin)
    t1 = min((dy + 0.5) / rho, ymax)
    if t1 - t0 <= 1e-12:
        return 0.0, 0.0, 0.0
    scale = rho / (t1 - t0)
    xl = (_lerp(cxl, ymin, ymax, t1) - _lerp(cxl, ymin, ymax, t0)) * scale
    xr = (_lerp(cxr, ymin, ymax, t1) - _lerp(cxr, ymin, ymax, t0)) * scale
    return (t1 - t0) * rho, xl, xr


def footprint(radius_px: float, aperture: Aperture) -> tuple[int, int, np.ndarray]:
    """Dense coverage of one source's blur spot, the readable form of the definition above.

    Args:
        radius_px: blur radius |r| in px (the sign does not change the shape).
        aperture: the aperture (circle, blades, or a kernel image, whose radius is quantised to
            ``kernel_image.RADIUS_STEP_PX``).

    Returns:
        ``(dy0, dx0, cover)``: ``cover[i, j]`` is the coverage (0..1) of the pixel at offset
        ``(dx0 + j, dy0 + i)`` from the source.

    Example:
        >>> dy0, dx0, cover = footprint(0.0, Aperture())
        >>> (dy0, dx0, cover.shape, round(float(cover.sum()), 4))
        (0, 0, (1, 1), 0.7854)
    """
    if aperture.kernel is not None:
        from .kernel_image import bin_radius, kernel_footprint, radius_bin

        half, cover = kernel_footprint(aperture.kernel, bin_radius(int(radius_bin(float(radius_px)))))
        return -half, -half, cover.astype(np.float32).astype(np.float64)
    table = span_table(aperture)
    rho = max(abs(float(radius_px)), MIN_RADIUS_PX)
    dy_lo, dy_hi = row_rows(rho, table.ymin, table.ymax)
    rows = [row_span(rho, dy, table.ymin, table.ymax, table.cxl, table.cxr) for dy in range(dy_lo, dy_hi + 1)]
    dx_lo = min(math.floor(xl + 0.5) for length, xl, _ in rows if length > 0)
    dx_hi = max(math.floor(xr + 0.5) for length, _, xr in rows if length > 0)
    cover = np.zeros((dy_hi - dy_lo + 1, dx_hi - dx_lo + 1))
    for i, (length, xl, xr) in enumerate(rows):
        if length <= 0:
            continue
        for j, dx in enumerate(range(dx_lo, dx_hi + 1)):
            cover[i, j] = length * max(0.0, min(xr, dx + 0.5) - max(xl, dx - 0.5))
    return dy_lo, dx_lo, cover

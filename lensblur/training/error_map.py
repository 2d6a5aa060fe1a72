"""BokehMe's target error map E* (Peng et al., CVPR 2022, §3.1, Eq. 2-5).

Where the classical scatter goes wrong is near depth discontinuities, within reach of the larger of the
two blur radii on either side. For pixel i, let i' be the nearest pixel on another surface, l their
distance and r_i, r_i' their blur radii (|K·(d - d_f)|). Then

    α = l / max(r_i, r_i'),   β = min(r_i, r_i') / max(r_i, r_i')
    E* = max(0, 1 - α^δ1) · (0.5 + 0.5·tanh(10·(δ2 - β)))          (Eq. 5, smooth indicator)

with δ1 = 4 and δ2 = 2/3 (the paper's choice). β near 1 (both sides about equally blurred) means the
scatter is nearly right even at the edge, so E* fades out.

"Another surface" is decided on the disparity map: 4-neighbours whose disparities differ by more than
``jump`` (default 0.02 of the normalised range) are cut apart, and the connected pieces are the surfaces.
A slanted plane is one surface however much its disparity changes across the frame; a twig or a strand of
hair is its own surface.
"""

from __future__ import annotations

import numpy as np

from ..errors import InvalidParameterError

__all__ = ["DELTA1", "DELTA2", "surface_labels", "error_map_target", "edge_ratios"]

DELTA1 = 4.0
DELTA2 = 2.0 / 3.0
DEFAULT_JUMP = 0.02


def _kernels():
    import numba

    @numba.njit(cache=True)
    def label(disparity, jump):
        height, width = disparity.shape
        labels = -np.ones((height, width), np.int32)
        stack = np.empty(height * width, np.int64)
        current = 0
        for start in range(height * width):
            if labels.flat[start] >= 0:
                continue
            labels.flat[start] = current
            top = 0
            stack[top] = start
            top += 1
            while top > 0:
                top -= 1
                p = stack[top]
                y, x = p // width, p % width
                d = disparity[y, x]
                for dy, dx in ((1, 0), (-1, 0), (0, 1), (0, -1)):
                    yy, xx = y + dy, x + dx
                    if 0 <= yy < height and 0 <= xx < width and labels[yy, xx] < 0 \
                            and abs(disparity[yy, xx] - d) <= jump:
                        labels[yy, xx] = current
                        stack[top] = yy * width + xx
                        top += 1
            current += 1
        return labels

    @numba.njit(cache=True, parallel=True)
    def nearest(labels, radius, oy, ox, od, max_radius, delta1, delta2, alpha, beta, target):
        height, width = labels.shape
        for y in numba.prange(height):
            for x in range(width):
                own = labels[y, x]
                r_i = radius[y, x]
                best_e, best_a, best_b = 0.0, np.inf, 1.0
                found_at = -1.0
                for k in range(od.shape[0]):
                    dist = od[k]
                    if found_at >= 0 and dist > found_at + 1e-9:
                        break
                    if dist >= max(r_i, max_radius) + 1e-9:
                        break
                    yy, xx = y + oy[k], x + ox[k]
                    if yy < 0 or yy >= height or xx < 0 or xx >= width or labels[yy, xx] == own:
                        continue
                    found_at = dist
                    r_j = radius[yy, xx]
                    big, small = max(r_i, r_j), min(r_i, r_j)
                    if big <= 0:
                        a, b, e = np.inf, 1.0, 0.0
                    else:
                        a, b = dist / big, small / big
                        e = max(0.0, 1.0 - a ** delta1) * (0.5 + 0.5 * np.tanh(10.0 * (delta2 - b)))
                    if e > best_e or found_at == dist and best_a == np.inf:
                        best_e, best_a, best_b = e, a, b
                alpha[y, x], beta[y, x], target[y, x] = best_a, best_b, best_e

    return label, nearest


_KERNELS = None


def _get_kernels():
    global _KERNELS
    if _KERNELS is None:
        _KERNELS = _kernels()
    return _KERNELS


def surface_labels(disparity: np.ndarray, jump: float = DEFAULT_JUMP) -> np.ndarray:
    """Connected surfaces of a ``(H, W)`` disparity map: 4-neighbours closer than ``jump`` are joined."""
    disparity = np.ascontiguousarray(disparity, np.float64)
    if disparity.ndim != 2:
        raise InvalidParameterError(f"disparity must be a (H, W) array; got shape {disparity.shape}")
    label, _ = _get_kernels()
    return label(disparity, float(jump))


def edge_ratios(disparity: np.ndarray, *, strength_px: float, focus_disparity: float, jump: float = DEFAULT_JUMP,
                delta1: float = DELTA1, delta2: float = DELTA2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(α, β, E*)`` per pixel (α = inf and E* = 0 where no other surface is within reach)."""
    disparity = np.asarray(disparity, np.float64)
    if not (np.isfinite(strength_px) and strength_px >= 0):
        raise InvalidParameterError(f"strength_px must be a finite number >= 0; got {strength_px!r}")
    if not (0.0 < delta2 <= 1.0 and delta1 > 0):
        raise InvalidParameterError(f"need delta1 > 0 and 0 < delta2 <= 1; got delta1={delta1}, delta2={delta2}")
    labels = surface_labels(disparity, jump)
    radius = np.abs(strength_px * (disparity - focus_disparity))
    max_radius = float(radius.max())
    reach = int(np.ceil(max_radius)) + 1
    oy, ox = np.mgrid[-reach:reach + 1, -reach:reach + 1]
    oy, ox = oy.ravel(), ox.ravel()
    od = np.hypot(oy, ox)
    order = np.argsort(od, kind="stable")
    keep = order[(od[order] > 0)]
    shape = disparity.shape
    alpha, beta, target = np.empty(shape), np.empty(shape), np.empty(shape)
    _, nearest = _get_kernels()
    nearest(labels, radius, oy[keep].astype(np.int64), ox[keep].astype(np.int64), od[keep], max_radius,
            float(delta1), float(delta2), alpha, beta, target)
    return alpha, beta, target


def error_map_target(disparity: np.ndarray, *, strength_px: float, focus_disparity: float,
                     jump: float = DEFAULT_JUMP, delta1: float = DELTA1, delta2: float = DELTA2) -> np.ndarray:
    """E* (Eq. 5) for a ``(H, W)`` normalised disparity map at blur ``strength_px`` (K) and focus d_f.

    Example:
        >>> d = np.zeros((8, 16)); d[:, :8] = 0.2          # foreground on the left
        >>> e = error_map_target(d, strength_px=20, focus_disparity=0.0)
        >>> bool(e[:, 7].min() > 0.99 and e[:, 0].max() < 0.5)
        True
    """
    return edge_ratios(disparity, strength_px=strength_px, focus_disparity=focus_disparity, jump=jump,
                       delta1=delta1, delta2=delta2)[2].astype(np.float32)

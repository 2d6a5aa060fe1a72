"""Image quality metrics on display-encoded images ``(H, W, 3)`` in [0, 1] (numpy, float).

* PSNR with peak 1.
* SSIM as Wang et al. 2004 define it: an 11 x 11 Gaussian window with sigma 1.5, K1 = 0.01, K2 = 0.03,
  computed per channel and averaged (the convention of BokehMe's and the EBB! tables).
* The discontinuity band of BokehMe's Eq. 2: pixels within the larger blur radius of a depth
  discontinuity, where halos and colour bleeding live; PSNR is reported inside and outside it.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["psnr", "masked_psnr", "ssim", "discontinuity_band", "halo_error"]


def _pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    if a.shape != b.shape:
        raise ValueError(f"images must have the same shape; got {a.shape} and {b.shape}")
    return a, b


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB for images in [0, 1] (inf for identical images)."""
    a, b = _pair(a, b)
    mse = float(np.mean((a - b) ** 2))
    return math.inf if mse == 0 else 10.0 * math.log10(1.0 / mse)


def masked_psnr(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    """PSNR over the pixels where ``mask`` (H, W) is true (nan when the mask is empty)."""
    a, b = _pair(a, b)
    mask = np.asarray(mask, bool)
    if not mask.any():
        return math.nan
    mse = float(np.mean((a[mask] - b[mask]) ** 2))
    return math.inf if mse == 0 else 10.0 * math.log10(1.0 / mse)


def _gaussian_filter(x: np.ndarray, sigma: float = 1.5, radius: int = 5) -> np.ndarray:
    """Separable Gaussian, 'valid' region only (as the reference SSIM implementation does)."""
    t = np.arange(-radius, radius + 1, dtype=np.float64)
    g = np.exp(-t * t / (2 * sigma * sigma))
    g /= g.sum()
    from numpy.lib.stride_tricks import sliding_window_view

    x = sliding_window_view(x, 2 * radius + 1, axis=0) @ g
    return sliding_window_view(x, 2 * radius + 1, axis=1) @ g


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean structural similarity of two images in [0, 1] (``(H, W)`` or ``(H, W, C)``, H, W >= 11)."""
    a, b = _pair(a, b)
    if a.ndim == 2:
        a, b = a[..., None], b[..., None]
    if min(a.shape[:2]) < 11:
        raise ValueError(f"SSIM needs images of at least 11 x 11 px; got {a.shape[:2]}")
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    scores = []
    for ch in range(a.shape[2]):
        x, y = a[..., ch], b[..., ch]
        mx, my = _gaussian_filter(x), _gaussian_filter(y)
        vx = _gaussian_filter(x * x) - mx * mx
        vy = _gaussian_filter(y * y) - my * my
        cxy = _gaussian_filter(x * y) - mx * my
        s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
        scores.append(float(s.mean()))
    return float(np.mean(scores))


def discontinuity_band(coc_px: np.ndarray, *, jump_px: float = 1.0) -> np.ndarray:
    """Pixels within the larger blur radius of a depth discontinuity (the support of BokehMe's Eq. 2).

    A discontinuity is a pair of 4-neighbours whose signed blur radii differ by more than ``jump_px``
    (a slanted plane changes r smoothly and does not count). Every pixel within max(|r1|, |r2|) (+1 px)
    of such a pair belongs to the band.

    Args:
        coc_px: ``(H, W)`` signed blur radius of the ground-truth scene, in px.

    Returns:
        ``(H, W)`` bool mask.
    """
    from scipy.ndimage import distance_transform_edt

    r = np.asarray(coc_px, np.float64)
    reach = np.zeros_like(r)
    for axis in (0, 1):
        lo = [slice(None)] * 2
        hi = [slice(None)] * 2
        lo[axis], hi[axis] = slice(0, -1), slice(1, None)
        a, b = r[tuple(lo)], r[tuple(hi)]
        jump = np.abs(a - b) > jump_px
        big = np.where(jump, np.maximum(np.abs(a), np.abs(b)) + 1.0, 0.0)
        reach[tuple(lo)] = np.maximum(reach[tuple(lo)], big)
        reach[tuple(hi)] = np.maximum(reach[tuple(hi)], big)
    band = np.zeros(r.shape, bool)
    if not reach.any():
        return band
    # group the discontinuity pixels by their (ceiled) reach and grow each group by its own radius
    levels = np.ceil(reach).astype(np.int64)
    for level in np.unique(levels[levels > 0]):
        seeds = levels == level
        band |= distance_transform_edt(~seeds) <= level
    return band


def halo_error(rendered: np.ndarray, target: np.ndarray, coc_px: np.ndarray, *, sharp_px: float = 1.0,
               inner_px: float = 3.0) -> float:
    """RMS error where halos live: around a sharp subject standing before a blurred background.

    Two rings of the true blur map ``coc_px`` (signed radius, negative = behind focus): the blurred
    background (r < −2·``sharp_px``) within its own |r| of a sharp pixel (|r| <= ``sharp_px``), where the
    scatter leaks the subject's colour outwards; and the sharp pixels within ``inner_px`` of that
    background, where background colour spills over the subject's edge. Returns nan if the scene has no
    sharp subject before a blurred background.

    Args:
        rendered, target: ``(H, W, 3)`` images.
        coc_px: ``(H, W)`` true signed blur radius.
    """
    from scipy.ndimage import distance_transform_edt

    r = np.asarray(coc_px, np.float64)
    sharp = np.abs(r) <= sharp_px
    behind = r < -2.0 * sharp_px
    if not sharp.any() or not behind.any():
        return math.nan
    outer = behind & (distance_transform_edt(~sharp) <= np.abs(r))
    inner = sharp & (distance_transform_edt(~behind) <= inner_px)
    ring = outer | inner
    if not ring.any():
        return math.nan
    diff = np.asarray(rendered, np.float64) - np.asarray(target, np.float64)
    return float(np.sqrt(np.mean(diff[ring] ** 2)))

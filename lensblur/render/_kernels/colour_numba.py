"""The renderers' working values for BokehMe's γ, compiled: sRGB-encode then raise to γ, and back, each in
one pass over the image (the torch steps take five passes each way). Same curve as ``lensblur._colour``."""

from __future__ import annotations

import numba
import numpy as np

_KNEE_ENCODED = 0.04045
_KNEE_LINEAR = 0.0031308


@numba.njit(cache=True, parallel=True, fastmath=True)
def encode_power(x, gamma, out):
    """``out = srgb_encode(max(x, 0)) ** gamma`` for flat float32 arrays."""
    for i in numba.prange(x.shape[0]):
        v = max(x[i], 0.0)
        e = v * 12.92 if v <= _KNEE_LINEAR else 1.055 * v ** (1 / 2.4) - 0.055
        out[i] = max(e, 0.0) ** gamma if e > 0.0 else 0.0


@numba.njit(cache=True, parallel=True, fastmath=True)
def power_decode(x, inverse_gamma, out):
    """``out = srgb_decode(max(x, 0) ** inverse_gamma)`` for flat float32 arrays."""
    for i in numba.prange(x.shape[0]):
        v = max(x[i], 0.0)
        e = v ** inverse_gamma if v > 0.0 else 0.0
        out[i] = e / 12.92 if e <= _KNEE_ENCODED else ((e + 0.055) / 1.055) ** 2.4


def working(x: np.ndarray, gamma: float, forward: bool) -> np.ndarray:
    """:func:`encode_power` (``forward``) or :func:`power_decode` of ``x`` (any shape) into a new array."""
    flat = np.ascontiguousarray(x, np.float32).reshape(-1)
    out = np.empty_like(flat)
    (encode_power if forward else power_decode)(flat, gamma if forward else 1.0 / gamma, out)
    return out.reshape(x.shape)

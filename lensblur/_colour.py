"""The sRGB transfer curve (IEC 61966-2-1), extended above 1 so that HDR values survive the round trip.

``srgb_decode`` turns display-encoded values (what an 8- or 16-bit file stores) into linear light and
``srgb_encode`` goes back. Both continue the curve's power segment beyond 1 (``1.055·x^(1/2.4) − 0.055``
and its inverse), so reconstructed highlights (linear values far above 1) keep their energy through
BokehMe's γ, which is defined on display values. Negative inputs are clamped to 0.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["srgb_decode", "srgb_encode"]

_KNEE_ENCODED = 0.04045
_KNEE_LINEAR = 0.0031308


def srgb_decode(x: Tensor) -> Tensor:
    """Display-encoded sRGB values (>= 0, may exceed 1) to linear light.

    Example:
        >>> srgb_decode(torch.tensor([0.0, 0.5, 1.0])).tolist()[2]
        1.0
    """
    x = x.clamp_min(0.0)
    return torch.where(x <= _KNEE_ENCODED, x / 12.92, ((x.clamp_min(_KNEE_ENCODED) + 0.055) / 1.055) ** 2.4)


def srgb_encode(x: Tensor) -> Tensor:
    """Linear light (>= 0, may exceed 1) to display-encoded sRGB values; the inverse of :func:`srgb_decode`."""
    x = x.clamp_min(0.0)
    return torch.where(x <= _KNEE_LINEAR, x * 12.92, 1.055 * x.clamp_min(_KNEE_LINEAR) ** (1 / 2.4) - 0.055)

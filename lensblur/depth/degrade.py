"""Imperfect depth on purpose: the degradations BokehMe trains against and benchmarks with (§4.3, Fig. 11)."""

from __future__ import annotations

import numpy as np

from ..errors import InvalidParameterError

__all__ = ["DEGRADATIONS", "degrade_disparity"]

DEGRADATIONS = ("blur", "dilate", "erode")


def degrade_disparity(disparity: np.ndarray, kind: str, size: int) -> np.ndarray:
    """Degrade a ``(H, W)`` disparity map as a depth estimator would: ``kind`` in {"blur", "dilate", "erode"},
    ``size`` an odd kernel side in px (1 = unchanged). Dilation grows the near (high-disparity) side.

    Blur is a Gaussian with OpenCV's σ for that kernel size, ``0.3·((size - 1)/2 - 1) + 0.8``.
    """
    from scipy import ndimage

    if kind not in DEGRADATIONS:
        raise InvalidParameterError(f"kind must be 'blur', 'dilate' or 'erode'; got {kind!r}")
    if not isinstance(size, int) or size < 1 or size % 2 == 0:
        raise InvalidParameterError(f"size must be an odd kernel side >= 1 px; got {size!r}")
    if size == 1:
        return disparity.copy()
    if kind == "blur":
        sigma = 0.3 * ((size - 1) / 2 - 1) + 0.8
        return ndimage.gaussian_filter(disparity, sigma, mode="nearest", truncate=(size // 2) / sigma)
    filt = ndimage.grey_dilation if kind == "dilate" else ndimage.grey_erosion
    return filt(disparity, size=(size, size), mode="nearest")

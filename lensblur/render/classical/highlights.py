"""Highlight boost: clipped light sources become bright bokeh balls instead of dull grey discs."""

from __future__ import annotations

from torch import Tensor

from ...types import Highlights

__all__ = ["boost_highlights"]


def boost_highlights(image: Tensor, coc_px: Tensor, highlights: Highlights) -> Tensor:
    """Multiply bright, out-of-focus pixels by up to ``1 + gain`` (linear light, before the blur).

    The boost is ``1 + gain·m_blur·m_bright``: ``m_bright`` ramps from 0 at ``threshold`` to 1 at full
    brightness of a pixel's brightest channel (so colours keep their hue), and ``m_blur`` ramps from 0 at
    a blur radius of ``min_blur_px`` to 1 at twice that, so in-focus highlights stay as they were. This
    follows BokehMe's demo, which does the same in sRGB with disparity-based masks.

    Args:
        image: ``(B, 3, H, W)`` linear RGB.
        coc_px: ``(B, 1, H, W)`` signed blur radius in px.
        highlights: threshold, gain and blur onset.

    Returns:
        The boosted image (values may exceed 1).
    """
    peak = image.amax(dim=1, keepdim=True)
    bright = ((peak - highlights.threshold) / (1.0 - highlights.threshold)).clamp(0.0, 1.0)
    onset = max(highlights.min_blur_px, 1e-6)
    blurred = ((coc_px.abs() - onset) / onset).clamp(0.0, 1.0)
    return image * (1.0 + highlights.gain * bright * blurred)

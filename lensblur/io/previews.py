"""Colour previews of blur and disparity maps for people to look at (not for reading back)."""

from __future__ import annotations

import torch
from torch import Tensor

from .images import srgb_to_linear

__all__ = ["coc_preview", "disparity_preview"]

# diverging blue - white - red, sRGB, sampled from a cool-warm ramp (behind, in focus, in front)
_DIVERGING = torch.tensor([
    [0.23, 0.30, 0.75], [0.55, 0.69, 1.00], [0.87, 0.87, 0.87], [0.96, 0.60, 0.48], [0.71, 0.02, 0.15],
])
# perceptually ordered dark-to-bright ramp for disparity (far = dark, near = bright)
_SEQUENTIAL = torch.tensor([
    [0.05, 0.03, 0.20], [0.35, 0.08, 0.43], [0.73, 0.21, 0.33], [0.97, 0.55, 0.04], [0.99, 0.99, 0.75],
])


def _ramp(values: Tensor, colours: Tensor) -> Tensor:
    """Map values in [0, 1] ``(B, 1, H, W)`` through a piecewise-linear colour ramp to linear RGB."""
    pos = values.clamp(0, 1) * (colours.shape[0] - 1)
    low = pos.floor().long().clamp(max=colours.shape[0] - 2)
    frac = pos - low
    c0 = colours.to(values.device)[low[:, 0]]
    c1 = colours.to(values.device)[low[:, 0] + 1]
    srgb = c0 * (1 - frac[:, 0, ..., None]) + c1 * frac[:, 0, ..., None]
    return srgb_to_linear(srgb.permute(0, 3, 1, 2).contiguous())


def coc_preview(coc_px: Tensor, *, max_px: float | None = None) -> Tensor:
    """Signed blur map as linear RGB: blue = behind focus, white = sharp, red = in front.

    The scale is symmetric: ±``max_px`` (default: the largest |radius|) map to the ends of the ramp.
    """
    limit = float(coc_px.abs().max()) if max_px is None else float(max_px)
    limit = max(limit, 1e-6)
    return _ramp(0.5 + 0.5 * coc_px / limit, _DIVERGING)


def disparity_preview(disparity: Tensor) -> Tensor:
    """Disparity ``(B, 1, H, W)`` (any scale) as linear RGB, min-max scaled: dark = far, bright = near."""
    flat = disparity.flatten(1)
    lo = flat.nan_to_num(float("inf")).amin(1).view(-1, 1, 1, 1)
    hi = flat.nan_to_num(float("-inf")).amax(1).view(-1, 1, 1, 1)
    scaled = ((disparity - lo) / (hi - lo).clamp_min(1e-12)).nan_to_num(0.0)
    return _ramp(scaled, _SEQUENTIAL)

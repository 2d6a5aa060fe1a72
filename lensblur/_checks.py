"""Validation at the public boundary: shape, dtype and range checks with messages that say how to fix.

Each public call runs these once; private kernels trust their inputs.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .errors import InputError


def check_image(image: object, name: str = "image") -> Tensor:
    """Check a ``(B, 3, H, W)`` floating-point image tensor; return it."""
    if not isinstance(image, Tensor):
        raise InputError(
            f"{name} must be a torch.Tensor of shape (B, 3, H, W); got {type(image).__name__}. "
            "Read files with lensblur.read_image(path), which returns linear RGB in that layout.")
    if image.ndim != 4 or image.shape[1] != 3:
        raise InputError(
            f"{name} must have shape (B, 3, H, W) (linear RGB); got {tuple(image.shape)}. "
            "For a single (H, W, 3) array use torch.from_numpy(a).permute(2, 0, 1)[None].")
    if not image.is_floating_point():
        raise InputError(
            f"{name} must be floating point (linear RGB in [0, 1]); got {image.dtype}. "
            "Divide 8-bit data by 255 and linearise it: lensblur.io.srgb_to_linear(x / 255).")
    if image.shape[-1] < 1 or image.shape[-2] < 1:
        raise InputError(f"{name} is empty: shape {tuple(image.shape)}.")
    # one pass over the pixels: NaN makes both ends NaN, inf or -inf shows up at an end
    low, high = (float(v) for v in torch.aminmax(image.detach()))
    if not (math.isfinite(low) and math.isfinite(high)):
        raise InputError(f"{name} contains NaN or inf values; replace them before rendering.")
    if low < 0:
        raise InputError(f"{name} has negative values (min {low:g}); linear RGB must be >= 0.")
    return image


def check_coc(coc_px: object, *, like: Tensor, name: str = "coc_px") -> Tensor:
    """Check a signed blur-radius map ``(B, 1, H, W)`` in px matching ``like``'s batch and size."""
    if not isinstance(coc_px, Tensor):
        raise InputError(f"{name} must be a torch.Tensor of shape (B, 1, H, W); got {type(coc_px).__name__}.")
    if coc_px.ndim != 4 or coc_px.shape[1] != 1:
        raise InputError(
            f"{name} must have shape (B, 1, H, W) (signed blur radius in px); got {tuple(coc_px.shape)}.")
    if coc_px.shape[0] != like.shape[0] or coc_px.shape[-2:] != like.shape[-2:]:
        raise InputError(
            f"{name} is {tuple(coc_px.shape)} but image is {tuple(like.shape)}; batch, H and W must match. "
            "Resize the blur map to the image first.")
    if not all(math.isfinite(float(v)) for v in torch.aminmax(coc_px.detach())):
        raise InputError(f"{name} contains NaN or inf; every pixel needs a finite blur radius.")
    return coc_px


def check_same_size(depth_hw: tuple[int, int], image_hw: tuple[int, int], *, name: str = "depth") -> None:
    """Raise when a depth map's (H, W) differs from the image's."""
    if tuple(depth_hw) != tuple(image_hw):
        raise InputError(
            f"{name} is {tuple(depth_hw)} but image is {tuple(image_hw)} (H, W). "
            "Resize the depth map first: lensblur.depth.resize_like(depth, image).")


def check_nonnegative(value: float, name: str, *, hint: str = "") -> float:
    """Raise when a scalar is negative or not finite."""
    if not math.isfinite(value) or value < 0:
        raise InputError(f"{name} must be a finite number >= 0; got {value}. {hint}".rstrip())
    return value


class BlurClampedWarning(UserWarning):
    """A blur radius beyond the image diagonal was clamped to it."""


def limit_radius(coc_px: Tensor) -> Tensor:
    """``coc_px`` with every radius clamped to the image diagonal (with a :class:`BlurClampedWarning`).

    A radius as long as the diagonal already spreads a pixel over the whole picture; larger ones only cost
    memory and time (a blur of 1e6 px once took the machine's 24 GB), so they are clamped.
    """
    height, width = coc_px.shape[-2:]
    limit = math.hypot(height, width)
    largest = float(coc_px.detach().abs().max()) if coc_px.numel() else 0.0
    if largest <= limit:
        return coc_px
    import warnings

    warnings.warn(f"blur radius up to {largest:.4g} px exceeds the image diagonal ({limit:.0f} px); clamped to it "
                  "(a larger blur cannot show more).", BlurClampedWarning, stacklevel=3)
    return coc_px.clamp(-limit, limit)

"""From disparity to a signed blur radius in pixels.

BokehMe's model (paper Eq. 1): r = K·(d − d_f), with d the disparity normalised to [0, 1] and K the
blur radius in px at a disparity difference of 1. Positive r = nearer than the focal plane.

The photographic model is the same equation in metric disparity. The thin-lens circle of confusion of
a point at distance z, for a lens of focal length f and f-number N focused at S, has the diameter
(on the sensor)

    c = (f/N)·f·|z − S| / (z·(S − f)) = (f²/N)·S/(S − f)·|1/z − 1/S|,

so with d = 1/z in 1/m the radius in pixels is r = K·(d − 1/S) with
K = f²/(2N)·S/(S − f)·(W_px / sensor_width) / 1000 (f, S and the sensor width in mm). Blender Cycles
keeps the sensor at distance f (no focus breathing) and its discs are S/(S − f) times smaller:
``coc_model="fixed-sensor"`` drops that factor. Radius = diameter / 2 throughout.

A focus band [far, near] keeps a depth range sharp: inside it r = 0, outside it r grows from the
nearer edge of the band with the same slope K.
"""

from __future__ import annotations

from torch import Tensor

from .._checks import check_nonnegative
from ..errors import InvalidParameterError
from ..types import CocModel

__all__ = ["signed_coc_px", "thin_lens_strength_px", "coc_diameter_mm"]


def signed_coc_px(disparity: Tensor, *, far: float, near: float, strength_px: float) -> Tensor:
    """Signed blur radius in px for a focus band [far, near] of disparities.

    Args:
        disparity: ``(B, 1, H, W)`` disparity (normalised for BokehMe's K; 1/m for a photographic lens).
        far: farthest disparity kept sharp (d_f for a point focus).
        near: nearest disparity kept sharp (d_f for a point focus).
        strength_px: K, radius in px per unit of disparity.

    Example:
        >>> import torch
        >>> signed_coc_px(torch.tensor([0.0, 0.5, 1.0]), far=0.5, near=0.5, strength_px=10).tolist()
        [-5.0, 0.0, 5.0]
    """
    check_nonnegative(strength_px, "strength_px", hint="The blur amount K is a radius; use 0 for no blur.")
    if far > near:
        raise InvalidParameterError(f"focus band needs far <= near (disparities); got far={far}, near={near}.")
    behind = (disparity - far).clamp_max(0.0)
    front = (disparity - near).clamp_min(0.0)
    return strength_px * (behind + front)


def thin_lens_strength_px(
    *,
    f_number: float,
    focal_length_mm: float,
    focus_distance_m: float,
    image_width_px: int,
    sensor_width_mm: float = 36.0,
    coc_model: CocModel = "thin-lens",
) -> float:
    """K for a photographic lens: blur radius in px per 1/m of disparity difference (see module doc)."""
    f = focal_length_mm
    s = focus_distance_m * 1000.0
    if s <= f:
        raise InvalidParameterError(
            f"focus distance {focus_distance_m} m is not beyond the focal length {focal_length_mm} mm; "
            "a lens cannot focus closer than its focal length.")
    magnification = s / (s - f) if coc_model == "thin-lens" else 1.0
    px_per_mm = image_width_px / sensor_width_mm
    return f * f / f_number * magnification / 2.0 * px_per_mm / 1000.0


def coc_diameter_mm(depth_m: Tensor, *, f_number: float, focal_length_mm: float, focus_distance_m: float,
                    coc_model: CocModel = "thin-lens") -> Tensor:
    """The textbook circle-of-confusion diameter on the sensor, (f/N)·f·|z − S| / (z·(S − f)), in mm."""
    f = focal_length_mm
    s = focus_distance_m * 1000.0
    z = depth_m * 1000.0
    denominator = z * (s - f) if coc_model == "thin-lens" else z * s
    return (f / f_number) * f * (z - s).abs() / denominator

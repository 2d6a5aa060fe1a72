"""Where the focal plane goes: clicked pixel, disparity value, distance, or a band kept sharp."""

from __future__ import annotations

import torch

from ..errors import InputError, InvalidParameterError
from ..types import DepthMap, Focus

__all__ = ["focus_at_pixel", "resolve_focus"]


def focus_at_pixel(depth: DepthMap, *, x: int, y: int, window_px: int = 9) -> float:
    """Focus disparity taken as the median in a square window around a clicked pixel.

    The median ignores stray values at an object's edge, so a click near a subject's outline still
    focuses on the subject when most of the window is on it.

    Args:
        depth: disparity map; converted with ``to_disparity()`` if it holds depth.
        x: column of the click, 0 = left edge.
        y: row of the click, 0 = top edge.
        window_px: side of the square window (clipped at the image border).

    Returns:
        The median disparity of the window (first image of the batch), in the map's units.

    Example:
        >>> d = DepthMap(torch.full((1, 1, 4, 4), 0.25), kind="disparity", scale="relative")
        >>> focus_at_pixel(d, x=1, y=2)
        0.25
    """
    height, width = depth.shape_hw
    if not (0 <= x < width and 0 <= y < height):
        raise InputError(
            f"focus point (x={x}, y={y}) is outside the image, which is {width} wide and {height} tall; "
            f"x must be in [0, {width - 1}] and y in [0, {height - 1}] (x = column, y = row).")
    if window_px < 1:
        raise InvalidParameterError(f"window_px must be >= 1; got {window_px}.")
    half = window_px // 2
    disp = depth.to_disparity().values[0, 0]
    window = disp[max(0, y - half): y + half + 1, max(0, x - half): x + half + 1].reshape(-1)
    window = window[torch.isfinite(window)]
    if window.numel() == 0:
        raise InputError(
            f"the depth map has no valid value within {window_px} px of (x={x}, y={y}); click elsewhere or "
            "fill the holes first (lensblur.depth.fill_holes).")
    return float(window.float().quantile(0.5))


def resolve_focus(focus: Focus, disparity: DepthMap) -> tuple[float, float]:
    """The ``(far, near)`` disparities kept sharp, in the units of ``disparity``.

    For metric disparity (1/m) ``Focus.at_distance`` is allowed; for relative disparity it is not.
    """
    if focus.band is not None:
        return focus.band
    if focus.pixel is not None:
        centre = focus_at_pixel(disparity, x=focus.pixel[0], y=focus.pixel[1], window_px=focus.window_px)
    elif focus.distance_m is not None:
        if disparity.scale != "metric":
            raise InvalidParameterError(
                f"Focus.at_distance({focus.distance_m}) needs metric depth, but the depth map is relative. "
                "Focus with Focus.at_pixel(x=..., y=...) or Focus.at_disparity(d), or pass metric depth.")
        centre = 1.0 / focus.distance_m
    else:
        centre = float(focus.disparity)
    return centre - focus.tolerance, centre + focus.tolerance

"""Where the focal plane goes: clicked pixel, disparity value, distance, or a band kept sharp."""

from __future__ import annotations

import torch

from ..errors import InputError, InvalidParameterError
from ..types import DepthMap, Focus

__all__ = ["focus_at_pixel", "resolve_focus", "focus_from_mask", "autofocus"]


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


def _valid_disparity(depth: DepthMap) -> torch.Tensor:
    return depth.to_disparity().values[0, 0].float()


def focus_from_mask(depth: DepthMap, mask: torch.Tensor, *, whole_subject: bool = False,
                    quantiles: tuple[float, float] = (0.05, 0.95)) -> Focus:
    """Focus on a subject given as a mask (a portrait matte, a segmentation, a painted region).

    Args:
        depth: disparity (or depth) map at the mask's size.
        mask: ``(H, W)`` or ``(1, 1, H, W)``; pixels with mask >= 0.5 belong to the subject.
        whole_subject: keep the subject's whole depth range sharp (``Focus.between`` the ``quantiles``
            of its disparity: robust to stray mask pixels) instead of focusing on its median.

    Returns:
        ``Focus.at_disparity(median)`` or ``Focus.between(q_lo, q_hi)``.
    """
    disp = _valid_disparity(depth)
    m = torch.as_tensor(mask)
    while m.ndim > 2 and m.shape[0] == 1:
        m = m[0]
    if tuple(m.shape) != tuple(disp.shape):
        raise InputError(f"mask must have the depth map's size {tuple(disp.shape)}; got {tuple(m.shape)}. "
                         "Resize the mask (or the depth) first.")
    values = disp[(m >= 0.5) & torch.isfinite(disp)]
    if values.numel() == 0:
        raise InputError("the focus mask selects no pixel with a valid disparity (mask >= 0.5); check the mask.")
    if whole_subject:
        lo, hi = quantiles
        if not 0.0 <= lo <= hi <= 1.0:
            raise InvalidParameterError(f"quantiles must satisfy 0 <= lo <= hi <= 1; got {quantiles}.")
        return Focus.between(float(values.quantile(lo)), float(values.quantile(hi)))
    return Focus.at_disparity(float(values.quantile(0.5)))


def autofocus(depth: DepthMap) -> Focus:
    """The default focus when the user gives none: the nearest large region near the image centre.

    Heuristic (documented, deterministic): look at the central half of the frame (where photographers
    put subjects); among its disparities take the near end of the bulk, the 80th percentile, so a
    foreground subject wins over the background but a few stray near pixels (a twig at the edge) do not;
    then focus on the median of the central pixels within 0.05 of the disparity range of that value, i.e.
    on the region itself rather than on a single level.
    """
    disp = _valid_disparity(depth)
    h, w = disp.shape
    centre = disp[h // 4: h - h // 4 or h, w // 4: w - w // 4 or w].reshape(-1)
    centre = centre[torch.isfinite(centre)]
    if centre.numel() == 0:
        raise InputError("the depth map has no valid value in the centre of the frame; give a focus explicitly.")
    target = float(centre.quantile(0.8))
    span = float(centre.max() - centre.min()) or 1.0
    region = centre[(centre - target).abs() <= 0.05 * span]
    return Focus.at_disparity(float(region.quantile(0.5)))

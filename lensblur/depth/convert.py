"""Making a depth map usable: hole filling, resizing to the photo, and the checks that go with them."""

from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import InputError
from ..types import DepthMap

__all__ = ["fill_holes", "resize_like", "prepare_depth", "DepthResizeWarning"]


class DepthResizeWarning(UserWarning):
    """The depth map had another size than the photo and was resized to it."""


def _fill_rows(values: np.ndarray, farther) -> np.ndarray:
    """Fill each row's holes with the farther of the nearest valid values to the left and right."""
    height, width = values.shape
    valid = np.isfinite(values)
    cols = np.arange(width)
    prev = np.maximum.accumulate(np.where(valid, cols, -1), axis=1)
    nxt = np.minimum.accumulate(np.where(valid, cols, width)[:, ::-1], axis=1)[:, ::-1]
    left = np.take_along_axis(values, prev.clip(0, width - 1), axis=1)
    right = np.take_along_axis(values, nxt.clip(0, width - 1), axis=1)
    left = np.where(prev >= 0, left, np.nan)
    right = np.where(nxt < width, right, np.nan)
    both = np.isfinite(left) & np.isfinite(right)
    filled = np.where(both, farther(left, right), np.where(np.isfinite(left), left, right))
    return np.where(valid, values, filled)


def fill_holes(depth: DepthMap) -> DepthMap:
    """Fill NaN/inf holes of a depth or disparity map.

    Holes in real depth maps are mostly occlusions: surfaces seen by one view (or sensor) and hidden
    from the other, next to a nearer object. They belong to the farther side, so each hole is filled
    along its row with the farther of its two valid neighbours; rows without any valid pixel take the
    nearest valid value in 2-D.

    Raises:
        InputError: when no pixel is valid.

    Example:
        >>> d = DepthMap(torch.tensor([[[[5.0, float('nan'), 9.0]]]]), kind="disparity", scale="relative")
        >>> fill_holes(d).values.flatten().tolist()
        [5.0, 5.0, 9.0]
    """
    values = depth.values.detach().cpu().numpy().astype(np.float32)
    if np.isfinite(values).all():
        return depth
    farther = np.minimum if depth.kind == "disparity" else np.maximum
    out = values.copy()
    for b in range(values.shape[0]):
        plane = values[b, 0]
        if not np.isfinite(plane).any():
            raise InputError(
                f"depth has no valid values (all {plane.size} pixels are NaN or inf; source: {depth.source}). "
                "Pass a depth map with measurements, or a blur map (coc_px) instead.")
        plane = _fill_rows(plane, farther)
        holes = ~np.isfinite(plane)
        if holes.any():
            from scipy import ndimage

            _, (iy, ix) = ndimage.distance_transform_edt(holes, return_indices=True)
            plane = plane[iy, ix]
        out[b, 0] = plane
    return replace(depth, values=torch.from_numpy(out).to(depth.values.device))


def resize_like(depth: DepthMap, size_hw: tuple[int, int], *, aspect_tolerance: float = 0.01) -> DepthMap:
    """Resize a depth map to (H, W) bilinearly; the aspect ratio must match within ``aspect_tolerance``.

    Disparity is interpolated as disparity and depth as depth. A different aspect ratio means the map
    belongs to another crop or rotation of the photo, so it is an error rather than a silent stretch.
    """
    height, width = depth.shape_hw
    target_h, target_w = int(size_hw[0]), int(size_hw[1])
    if (height, width) == (target_h, target_w):
        return depth
    ratio = (width / height) / (target_w / target_h)
    if abs(ratio - 1.0) > aspect_tolerance:
        raise InputError(
            f"depth is {height}x{width} (H x W, aspect {width / height:.3f}) but the image is {target_h}x{target_w} "
            f"(aspect {target_w / target_h:.3f}); they cannot show the same view. Use the depth map made for "
            "this photo, with the same crop and rotation.")
    values = F.interpolate(depth.values.float(), size=(target_h, target_w), mode="bilinear", align_corners=False)
    return replace(depth, values=values)


def prepare_depth(depth: DepthMap, size_hw: tuple[int, int]) -> DepthMap:
    """Fill holes and resize to the photo (with a DepthResizeWarning when the size differs)."""
    depth = fill_holes(depth)
    if depth.shape_hw != tuple(size_hw):
        warnings.warn(
            f"depth map is {depth.shape_hw[0]}x{depth.shape_hw[1]} but the image is {size_hw[0]}x{size_hw[1]} "
            "(H x W); resizing the depth map bilinearly to the image.", DepthResizeWarning, stacklevel=2)
        depth = resize_like(depth, size_hw)
    return depth

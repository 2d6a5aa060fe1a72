"""Evaluation protocols of the public bokeh benchmarks, stated in code for users who own the data.

We cannot ship BLB or EBB! (licences, size); these helpers turn their files into what our metrics
expect, following the papers and the dataset authors' instructions:

* **BLB** (BokehMe, Blender 2.93): images are linear EXR. Evaluate on ``clip(x, 0, 1) ** (1/2.2)``.
  Disparity is 1/depth (depth 65504 = infinity, i.e. disparity 0), then min-max normalised to [0, 1]
  (the BokehMe author's answer in issue #13; the README's "no normalisation" contradicts it). Aperture
  circular, γ = 2.2 for every method (BokehMe §4.1).
* **EBB! Val294 / EBB400**: 8-bit sRGB JPEG pairs of about 1536 x 1024; scored at full resolution on the
  pixels both images share (PyNET crops pairs to their intersection), values in [0, 1]. EBB400 focus
  disparity: the median disparity inside the labelled in-focus box (BokehMe §4.1).
"""

from __future__ import annotations

import numpy as np

__all__ = ["BLB_GAMMA", "blb_display", "blb_disparity", "ebb_pair", "focus_from_box"]

BLB_GAMMA = 2.2
BLB_INFINITY_DEPTH = 65504.0  # float16 max, which BLB's depth EXRs use for "no surface"


def blb_display(linear: np.ndarray) -> np.ndarray:
    """A BLB linear EXR image ``(H, W, 3)`` as the display image every method is scored on."""
    return np.clip(np.asarray(linear, np.float64), 0.0, 1.0) ** (1.0 / BLB_GAMMA)


def blb_disparity(depth: np.ndarray) -> np.ndarray:
    """BLB depth (scene units, 65504 = infinity) -> disparity normalised to [0, 1], 1 = nearest."""
    depth = np.asarray(depth, np.float64)
    disparity = np.where(depth >= BLB_INFINITY_DEPTH, 0.0, 1.0 / np.maximum(depth, 1e-9))
    lo, hi = disparity.min(), disparity.max()
    if hi - lo <= 0:
        raise ValueError("the BLB depth map is constant; cannot normalise its disparity")
    return (disparity - lo) / (hi - lo)


def ebb_pair(rendered: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Crop an EBB! prediction and its target to their common top-left region (both ``(H, W, 3)`` in [0, 1])."""
    h = min(rendered.shape[0], target.shape[0])
    w = min(rendered.shape[1], target.shape[1])
    return np.clip(rendered[:h, :w], 0, 1), np.clip(target[:h, :w], 0, 1)


def focus_from_box(disparity: np.ndarray, box: tuple[int, int, int, int]) -> float:
    """EBB400's focus disparity: the median disparity inside the in-focus box ``(x0, y0, x1, y1)``."""
    x0, y0, x1, y1 = box
    region = np.asarray(disparity)[y0:y1, x0:x1]
    if region.size == 0:
        raise ValueError(f"box {box} selects no pixels of a disparity map of shape {np.shape(disparity)}")
    return float(np.median(region))

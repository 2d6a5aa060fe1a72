"""The bundled real sample: Middlebury 2014 "Motorcycle" with ground-truth stereo disparity.

scikit-image ships the pair inside its wheel (``skimage.data.stereo_motorcycle``), so it works offline.
Disparity is in pixels (about 7-60, larger = nearer); 7 % of it is +inf (no ground truth: pixels
occluded in the other view), left as NaN holes for ``lensblur.depth.fill_holes``.
"""

from __future__ import annotations

import numpy as np
import torch

from .._optional import require
from ..types import DepthMap, Scene
from .images import ImageMeta, srgb_to_linear

__all__ = ["motorcycle"]


def motorcycle() -> Scene:
    """The Middlebury 2014 Motorcycle left view (500x741) with its true disparity (holes as NaN)."""
    data = require("skimage.data", extra="sample", feature="the bundled Middlebury sample")
    left, _, disparity = data.stereo_motorcycle()
    image = torch.from_numpy(left.astype(np.float32) / 255.0).permute(2, 0, 1)[None].contiguous()
    disp = disparity.astype(np.float32)
    disp[~np.isfinite(disp)] = np.nan
    depth = DepthMap(torch.from_numpy(disp)[None, None], kind="disparity", scale="relative",
                     source="middlebury-2014-motorcycle (ground-truth stereo disparity, px)")
    return Scene(image=srgb_to_linear(image), depth=depth, meta=ImageMeta(path=None, bit_depth=8))

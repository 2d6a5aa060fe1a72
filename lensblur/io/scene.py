"""A photo and its depth file, read together."""

from __future__ import annotations

import os

from ..types import DepthKind, DepthScale, Scene
from .depth_files import read_depth
from .images import read_image

__all__ = ["load_scene"]


def load_scene(
    path: str | os.PathLike,
    depth: str | os.PathLike | None = None,
    *,
    depth_kind: DepthKind | None = None,
    depth_scale: DepthScale = "relative",
) -> Scene:
    """Read a photo (linear RGB, upright) and, if given, its depth or disparity file.

    The depth map keeps its own size here; ``render`` resizes it to the photo (with a warning) and
    fills its holes.
    """
    image, meta = read_image(path)
    depth_map = read_depth(depth, kind=depth_kind, scale=depth_scale) if depth is not None else None
    return Scene(image=image, depth=depth_map, meta=meta)

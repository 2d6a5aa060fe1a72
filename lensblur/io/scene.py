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
    embedded: bool = True,
) -> Scene:
    """Read a photo (linear RGB, upright) and its depth: the given file, else the depth stored in the photo.

    With no ``depth`` file and ``embedded`` true, depth stored inside the photo is used when present
    (iPhone HEIC disparity, Android Dynamic Depth or GDepth; ``scene.depth.source`` says which), and
    an iPhone portrait matte becomes ``scene.matte``;
    otherwise ``scene.depth`` is None. The depth map keeps its own size here; ``render`` resizes it to
    the photo (with a warning) and fills its holes.
    """
    image, meta = read_image(path)
    if depth is not None:
        depth_map = read_depth(depth, kind=depth_kind, scale=depth_scale)
    elif embedded:
        from .embedded import read_embedded_depth

        depth_map = read_embedded_depth(path, orientation=meta.orientation)
    else:
        depth_map = None
    from .embedded import read_embedded_matte

    matte = read_embedded_matte(path, orientation=meta.orientation) if embedded else None
    return Scene(image=image, depth=depth_map, meta=meta, matte=matte)

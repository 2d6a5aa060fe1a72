"""A photo and its depth file, read together."""

from __future__ import annotations

import os
from typing import Any

from ..errors import InputError
from ..types import DepthKind, DepthScale, Scene
from .convert import Encoding, as_depth, as_image
from .images import read_image
from .limits import header_size

__all__ = ["load_scene"]


def load_scene(
    path: Any,
    depth: Any = None,
    *,
    depth_kind: DepthKind | None = None,
    depth_scale: DepthScale = "relative",
    embedded: bool = True,
    encoding: Encoding | None = None,
) -> Scene:
    """Read a photo (linear RGB, upright) and its depth: the given file, else the depth stored in the photo.

    ``path`` may also be what Python users hold: a numpy array, a PIL image or a tensor (``io.convert``:
    8/16-bit values are sRGB, float values linear unless ``encoding="srgb"``), and ``depth`` a DepthMap or an
    ``(H, W)`` array or tensor of kind ``depth_kind``.

    With no ``depth`` file and ``embedded`` true, depth stored inside the photo is used when present
    (iPhone HEIC disparity, Android Dynamic Depth or GDepth; ``scene.depth.source`` says which), and
    an iPhone portrait matte becomes ``scene.matte``;
    otherwise ``scene.depth`` is None. The depth map keeps its own size here; ``render`` resizes it to
    the photo (with a warning) and fills its holes.
    """
    if not isinstance(path, (str, os.PathLike)):
        image, meta = as_image(path, encoding=encoding)
        depth_map = None if depth is None else as_depth(depth, kind=depth_kind, scale=depth_scale)
        return Scene(image=image, depth=depth_map, meta=meta)
    image, meta = read_image(path)
    if depth is not None:
        if isinstance(depth, (str, os.PathLike)):
            _check_aspect(header_size(depth), image.shape[-2:], depth)
        depth_map = as_depth(depth, kind=depth_kind, scale=depth_scale)
    elif embedded:
        from .embedded import read_embedded_depth

        depth_map = read_embedded_depth(path, orientation=meta.orientation)
    else:
        depth_map = None
    from .embedded import read_embedded_matte

    matte = read_embedded_matte(path, orientation=meta.orientation) if embedded else None
    return Scene(image=image, depth=depth_map, meta=meta, matte=matte)


def _check_aspect(depth_hw, image_hw, path) -> None:
    """Refuse, from the depth file's header and before decoding it, a map that cannot show the photo's view."""
    if depth_hw is None:
        return
    (h, w), (height, width) = depth_hw, image_hw
    if abs((w / h) / (width / height) - 1.0) > 0.02:
        raise InputError(
            f"depth file {str(path)!r} is {h}x{w} (H x W, aspect {w / h:.3f}) but the photo is {height}x{width} "
            f"(aspect {width / height:.3f}); they cannot show the same view. Use the depth map made for this "
            "photo, with the same crop and rotation.")

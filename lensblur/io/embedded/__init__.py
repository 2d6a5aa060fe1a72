"""Depth stored inside photos: iPhone HEIC auxiliary disparity, Android GDepth and Dynamic Depth JPEGs."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from ...errors import FileFormatError
from ...types import DepthMap
from .google import dynamic_depth_disparity, gdepth_disparity, range_to_disparity
from .heic import heic_disparity, heic_portrait_matte
from .xmp import read_jpeg_xmp

__all__ = ["read_embedded_depth", "read_embedded_matte", "range_to_disparity", "HEIC_SUFFIXES"]

HEIC_SUFFIXES = (".heic", ".heif", ".hif")


def read_embedded_depth(path: str | os.PathLike, *, orientation: int = 1) -> DepthMap | None:
    """The depth a photo carries, as a disparity DepthMap (upright), or None if it carries none.

    Tries, in order: HEIC auxiliary depth (needs ``pip install 'lensblur[heic]'``), Dynamic Depth 1.0,
    then GDepth. ``orientation`` is the photo's EXIF orientation (``ImageMeta.orientation``), applied to
    the depth map as to the photo. ``DepthMap.source`` names the format.

    Raises:
        FileFormatError: the photo declares depth that is corrupt (bad XMP, truncated item, undecodable image).
    """
    from ..images import _orient

    path = Path(path)
    if path.suffix.lower() in HEIC_SUFFIXES:
        found = heic_disparity(_open_heic(path))
        if found is None:
            return None
        values, scale = found
        return _depth_map(_orient(values, orientation), scale, "iphone-heic")
    data = path.read_bytes()
    if data[:2] != b"\xff\xd8":
        return None
    xmp = read_jpeg_xmp(data, what=f"photo {str(path)!r}")
    for reader, source in ((lambda: dynamic_depth_disparity(xmp, data), "dynamic-depth"),
                           (lambda: gdepth_disparity(xmp), "gdepth")):
        values = reader()
        if values is not None:
            return _depth_map(_orient(values, orientation), "metric", source)
    return None


def read_embedded_matte(path: str | os.PathLike, *, orientation: int = 1) -> torch.Tensor | None:
    """The subject matte stored in the photo (iPhone HEIC portrait effects matte) as ``(1, 1, h, w)``, or None."""
    from ..images import _orient

    path = Path(path)
    if path.suffix.lower() not in HEIC_SUFFIXES:
        return None
    matte = heic_portrait_matte(_open_heic(path))
    if matte is None:
        return None
    return torch.from_numpy(np.ascontiguousarray(_orient(matte, orientation)))[None, None]


def _open_heic(path: Path):
    from ..._optional import require

    pillow_heif = require("pillow_heif", extra="heic", feature="reading HEIC photos, their depth and mattes")
    try:
        return pillow_heif.open_heif(path)
    except (OSError, ValueError) as err:
        raise FileFormatError(f"HEIC file {str(path)!r} cannot be read: {err}") from err


def _depth_map(values: np.ndarray, scale: str, source: str) -> DepthMap:
    tensor = torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32))[None, None]
    return DepthMap(values=tensor, kind="disparity", scale=scale, source=source)

"""iPhone HEIC depth: the HEIF auxiliary depth/disparity image, read through pillow-heif.

pillow-heif exposes the depth auxiliary images as ``info["depth_images"]`` (HeifDepthImage objects,
convertible to arrays) with the HEIF depth representation in ``info["metadata"]``: ``d_min``, ``d_max``
and ``representation_type`` (0 uniform inverse depth, 1 uniform disparity, 2 uniform depth,
3 non-uniform). iPhones store an 8- or 16-bit normalised disparity, brighter = nearer, usually much
smaller than the photo and in the sensor's orientation (the photo's EXIF orientation applies to it).
"""

from __future__ import annotations

import numpy as np

from ...errors import FileFormatError

__all__ = ["heic_disparity", "heic_portrait_matte", "PORTRAIT_MATTE_URN"]

PORTRAIT_MATTE_URN = "urn:com:apple:photo:2018:aux:portraiteffectsmatte"


def heic_disparity(heif_image) -> tuple[np.ndarray, str] | None:
    """Disparity (relative, or metric when the metadata gives uniform depth/inverse depth bounds) from an
    opened pillow-heif image, or None when it holds no depth image.

    Returns ``(disparity (h, w) float32, scale)`` with scale "relative" or "metric".
    """
    depth_images = (getattr(heif_image, "info", None) or {}).get("depth_images") or []
    if not depth_images:
        return None
    depth = depth_images[0]
    try:
        values = np.asarray(depth)
    except (OSError, ValueError) as err:
        raise FileFormatError(f"the HEIC depth image cannot be decoded ({err})") from err
    if values.ndim == 3:
        values = values[..., 0]
    if values.ndim != 2 or values.size == 0:
        raise FileFormatError(f"the HEIC depth image has an unusable shape {values.shape}")
    peak = 65535.0 if values.dtype == np.uint16 else 255.0 if values.dtype == np.uint8 else 1.0
    v = values.astype(np.float64) / peak
    meta = (getattr(depth, "info", None) or {}).get("metadata") or {}
    kind = meta.get("representation_type")
    d_min, d_max = meta.get("d_min"), meta.get("d_max")
    if kind == 2 and d_min and d_max and 0 < d_min < d_max:  # uniform depth in metres
        return (1.0 / (d_min + v * (d_max - d_min))).astype(np.float32), "metric"
    if kind == 0 and d_min and d_max and 0 < d_min < d_max:  # uniform inverse depth between 1/d_max and 1/d_min
        return (1.0 / d_max + v * (1.0 / d_min - 1.0 / d_max)).astype(np.float32), "metric"
    if kind == 1 and d_min and d_max and 0 < d_min < d_max:  # uniform disparity (1/m) between d_min and d_max
        return (d_min + v * (d_max - d_min)).astype(np.float32), "metric"
    return v.astype(np.float32), "relative"  # disparity-like, brighter = nearer


def heic_portrait_matte(heif_image) -> np.ndarray | None:
    """The portrait effects matte (``(h, w)`` float32 in [0, 1], 1 = subject) of an opened HEIC, or None."""
    ids = ((getattr(heif_image, "info", None) or {}).get("aux") or {}).get(PORTRAIT_MATTE_URN) or []
    if not ids:
        return None
    try:
        matte = np.asarray(heif_image.get_aux_image(ids[0]))
    except (OSError, ValueError, KeyError) as err:
        raise FileFormatError(f"the HEIC portrait matte cannot be decoded ({err})") from err
    if matte.ndim == 3:
        matte = matte[..., 0]
    peak = 65535.0 if matte.dtype == np.uint16 else 255.0 if matte.dtype == np.uint8 else 1.0
    return (matte.astype(np.float64) / peak).astype(np.float32)

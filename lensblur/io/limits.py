"""The one pixel limit every reader applies, from the file's header, before decoding.

A 0.4 MB PNG can declare 12000 x 12000 pixels and take 10 GB once decoded; the size is checked from the
header first. ``MAX_PIXELS`` is 120 megapixels (a 100 MP medium-format photo passes; a render of it needs
about 10 GB here), set by the ``LENSBLUR_MAX_PIXELS`` environment variable; the web app uses the same limit.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

from ..errors import FileFormatError

__all__ = ["MAX_PIXELS", "check_pixels", "header_size"]

MAX_PIXELS = int(os.environ.get("LENSBLUR_MAX_PIXELS", 120_000_000))


def check_pixels(height: int, width: int, what: str, path: str | os.PathLike) -> None:
    """Refuse a ``what`` ("image", "depth") file whose header declares more than :data:`MAX_PIXELS` pixels."""
    if height * width > MAX_PIXELS:
        raise FileFormatError(
            f"{what} file {str(path)!r} declares {width}x{height} pixels ({height * width / 1e6:.0f} MP); lensblur "
            f"reads at most {MAX_PIXELS / 1e6:.0f} MP (set LENSBLUR_MAX_PIXELS to change the limit), so it was not "
            "decoded. Downscale it first.")


def header_size(path: str | os.PathLike) -> tuple[int, int] | None:
    """``(height, width)`` from a file's header without decoding its pixels, or None when the format's header
    cannot be read this way (the decoder then reports what is wrong)."""
    path = Path(path)
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            import numpy as np

            with open(path, "rb") as f:
                major, _ = np.lib.format.read_magic(f)
                read = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
                shape = read(f)[0]
            return (int(shape[0]), int(shape[1])) if len(shape) >= 2 else None
        if suffix == ".pfm":
            with open(path, "rb") as f:
                f.readline()
                width, height = (int(v) for v in f.readline().split()[:2])
            return height, width
        if suffix in (".tif", ".tiff"):
            import tifffile

            with tifffile.TiffFile(path) as tif:
                shape = tif.pages[0].shape
            return int(shape[0]), int(shape[1])
        if suffix == ".png":
            with open(path, "rb") as f:
                head = f.read(24)
            if head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR":
                width, height = struct.unpack(">II", head[16:24])
                return height, width
            return None
        if suffix == ".exr":
            return _exr_size(path)
        if suffix in (".jpg", ".jpeg", ".heic", ".heif", ".hif"):
            from PIL import Image

            with Image.open(path) as pil:  # lazy: reads the header only
                return pil.height, pil.width
    except Exception:  # an unreadable header: the decoder gives the precise error
        return None
    return None


_EXR_MAGIC = b"\x76\x2f\x31\x01"
_EXR_HEADER_LIMIT = 1 << 20  # a header is a few hundred bytes; a longer one is not read this way


def _exr_size(path: Path) -> tuple[int, int] | None:
    """``(height, width)`` of an OpenEXR file's (first part's) dataWindow, parsed from its header.

    The header is the magic number, a 4-byte version, then attributes (name NUL, type NUL, int32 size, value)
    up to an empty name; ``dataWindow`` is a box2i: xMin, yMin, xMax, yMax as little-endian int32, inclusive.
    """
    with open(path, "rb") as f:
        head = f.read(_EXR_HEADER_LIMIT)
    if head[:4] != _EXR_MAGIC:
        return None
    pos = 8
    while pos < len(head) and head[pos] != 0:
        name_end = head.index(b"\0", pos)
        type_end = head.index(b"\0", name_end + 1)
        (size,) = struct.unpack_from("<i", head, type_end + 1)
        if size < 0:  # a damaged header: the decoder reports it
            return None
        value = type_end + 5
        if head[pos:name_end] == b"dataWindow" and head[name_end + 1:type_end] == b"box2i" and size == 16:
            x_min, y_min, x_max, y_max = struct.unpack_from("<4i", head, value)
            height, width = y_max - y_min + 1, x_max - x_min + 1
            return (height, width) if height > 0 and width > 0 else None
        pos = value + size
    return None

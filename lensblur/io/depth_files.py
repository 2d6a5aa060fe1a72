"""Depth and disparity maps in and out: 8/16-bit PNG, float TIFF, EXR, NPY and PFM.

A file does not say whether it holds depth (larger = farther) or disparity (larger = nearer), so the
caller says it with ``kind``. When it is not given, an EXR ``Z``/``depth`` channel is read as depth and
anything else is refused with a message that asks for the kind: guessing silently turned metres into
disparity and blurred the wrong half of the picture by up to 100x (issue #19). Holes (NaN, inf, and zeros in a depth map) are kept
as NaN here; ``lensblur.depth.fill_holes`` fills them.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import torch

from .._optional import require
from ..errors import FileFormatError, InvalidParameterError, hint
from ..types import DepthKind, DepthMap, DepthScale
from .images import _orient, atomic_write_bytes, check_output_path
from .limits import check_pixels, header_size

__all__ = ["read_depth", "write_depth", "DEPTH_SUFFIXES", "read_pfm"]

DEPTH_SUFFIXES = (".png", ".tif", ".tiff", ".exr", ".npy", ".pfm", ".jpg", ".jpeg")


_DEPTH_CHANNELS = ("Z", "depth", "Depth", "depth.Z", "ViewLayer.Depth.Z")  # EXR channels that say "depth"


def read_pfm(path: Path) -> np.ndarray:
    """Read a PFM (portable float map) as a top-to-bottom (H, W) or (H, W, 3) float32 array."""
    with open(path, "rb") as f:
        header = f.readline().strip()
        if header not in (b"Pf", b"PF"):
            raise FileFormatError(f"depth file {str(path)!r} is not a PFM (header {header[:8]!r}).")
        dims = f.readline()
        while dims.startswith(b"#"):
            dims = f.readline()
        match = re.match(rb"^\s*(\d+)\s+(\d+)\s*$", dims)
        if not match:
            raise FileFormatError(f"depth file {str(path)!r} has a broken PFM size line {dims[:40]!r}.")
        width, height = int(match.group(1)), int(match.group(2))
        scale = float(f.readline().strip())
        channels = 3 if header == b"PF" else 1
        dtype = "<f4" if scale < 0 else ">f4"
        count = width * height * channels
        data = np.frombuffer(f.read(4 * count), dtype=dtype)
    if data.size != count:
        raise FileFormatError(
            f"depth file {str(path)!r} is truncated: {data.size} of {count} PFM values present.")
    shape = (height, width, channels) if channels == 3 else (height, width)
    return np.flipud(data.reshape(shape)).astype(np.float32)  # PFM rows run bottom to top


def _read_exr(path: Path) -> tuple[np.ndarray, str]:
    openexr = require("OpenEXR", extra="io", feature="reading EXR depth maps")
    try:
        with openexr.File(str(path)) as exr:
            channels = {name: np.array(channel.pixels, dtype=np.float32) for name, channel in exr.channels().items()}
    except Exception as err:  # OpenEXR raises plain exceptions for damaged files
        raise FileFormatError(f"depth file {str(path)!r} cannot be read as EXR: {err}.") from err
    names = list(channels)
    for preferred in ("Z", "depth", "Depth", "depth.Z", "ViewLayer.Depth.Z", "R", "Y"):
        if preferred in names:
            return channels[preferred], preferred
    if len(names) == 1:
        return channels[names[0]], names[0]
    raise FileFormatError(
        f"depth file {str(path)!r} has channels {names}; lensblur reads the first of Z, depth, R or Y.")


def _read_array(path: Path) -> tuple[np.ndarray, str | None]:
    suffix = path.suffix.lower()
    if suffix == ".npy":
        try:
            return np.load(path, allow_pickle=False), None
        except (ValueError, OSError, EOFError) as err:
            raise FileFormatError(f"depth file {str(path)!r} is not a readable .npy array: {err}.") from err
    if suffix == ".pfm":
        return read_pfm(path), None
    if suffix == ".exr":
        return _read_exr(path)
    if suffix in (".tif", ".tiff"):
        import tifffile

        try:
            return tifffile.imread(path), None
        except Exception as err:  # tifffile raises several types for damaged files
            raise FileFormatError(f"depth file {str(path)!r} cannot be read as TIFF: {err}.") from err
    if suffix in (".png", ".jpg", ".jpeg"):
        import cv2

        array = cv2.imread(str(path), cv2.IMREAD_UNCHANGED | cv2.IMREAD_IGNORE_ORIENTATION)
        if array is None:
            raise FileFormatError(f"depth file {str(path)!r} is damaged, truncated or not an image.")
        return array, None
    raise FileFormatError(
        f"depth file {str(path)!r} has suffix {suffix or '(none)'!r}; lensblur reads {', '.join(DEPTH_SUFFIXES)}.")


def _exif_orientation(path: Path) -> int:
    if path.suffix.lower() not in (".jpg", ".jpeg", ".png", ".tif", ".tiff"):
        return 1
    from PIL import Image

    try:
        with Image.open(path) as pil:
            return int(pil.getexif().get(0x0112, 1) or 1)
    except Exception:  # depth TIFFs Pillow cannot parse carry no orientation we could use
        return 1


def read_depth(
    path: str | os.PathLike,
    *,
    kind: DepthKind | None = None,
    scale: DepthScale = "relative",
) -> DepthMap:
    """Read a depth or disparity map file.

    Args:
        path: a .png (8/16-bit grey), .tif/.tiff (float or integer), .exr, .npy or .pfm file.
        kind: ``"disparity"`` (larger = nearer) or ``"depth"`` (larger = farther). When None, an EXR Z
            channel means depth; any other file is refused (InvalidParameterError) until the kind is given.
        scale: ``"metric"`` when the values are metres (depth) or 1/metres (disparity).

    Returns:
        A ``(1, 1, H, W)`` DepthMap; holes are NaN. Integer files are kept in their integer units.
    """
    path = Path(path)
    if not path.exists():
        raise FileFormatError(f"depth file not found: {str(path)!r}. Check the path.")
    if kind not in (None, "depth", "disparity"):
        raise InvalidParameterError(f"kind must be 'depth', 'disparity' or None; got {kind!r}.")
    size = header_size(path)
    if size is not None:
        check_pixels(*size, "depth", path)
    array, channel = _read_array(path)
    array = np.asarray(array)
    if array.ndim == 3:
        if array.shape[2] >= 3 and not (np.array_equal(array[..., 0], array[..., 1])
                                        and np.array_equal(array[..., 0], array[..., 2])):
            raise FileFormatError(
                f"depth file {str(path)!r} holds a colour image (its channels differ); save the map as a "
                "single grey channel (a colour-mapped preview cannot be read back as depth).")
        array = array[..., 0]
    if array.ndim != 2:
        raise FileFormatError(f"depth file {str(path)!r} holds an array of shape {array.shape}; need (H, W).")
    values = array.astype(np.float32)
    values[~np.isfinite(values)] = np.nan
    if kind is None:
        if channel not in _DEPTH_CHANNELS:
            raise InvalidParameterError(
                f"depth file {path.name!r} does not say whether it holds depth (larger = farther) or disparity "
                f"(larger = nearer), and reading it the wrong way round blurs the wrong things; "
                + hint("pass kind='depth' or kind='disparity'", "add --depth-kind depth or --depth-kind disparity")
                + ". Depth Anything, MiDaS, DPT and BokehMe maps are disparity; metres from a phone, a LiDAR "
                "or a renderer are depth.")
        kind = "depth"
    if kind == "depth":
        finite = values[np.isfinite(values)]
        if finite.size and finite.max() <= 0 and finite.min() < 0:
            raise FileFormatError(
                f"depth file {path.name!r} holds no positive distance (values {finite.min():g} to {finite.max():g}); "
                "depth is a distance > 0. If larger values are nearer, the map holds disparity: "
                + hint("kind='disparity'", "--depth-kind disparity") + ".")
        values[values <= 0] = np.nan  # a depth of 0 is a missing measurement
    values = _orient(values, _exif_orientation(path))
    tensor = torch.from_numpy(np.ascontiguousarray(values))[None, None]
    return DepthMap(tensor, kind=kind, scale=scale, source=f"file:{path.name}")


def write_depth(path: str | os.PathLike, depth: DepthMap, *, overwrite: bool = False) -> Path:
    """Write a depth map: .npy/.pfm/.tif keep float values; .png stores 16-bit normalised disparity."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".npy", ".pfm", ".png", ".tif", ".tiff"):
        raise InvalidParameterError(f"write_depth writes .npy, .pfm, .png or .tif; got {suffix or '(none)'!r}.")
    path = check_output_path(path, overwrite=overwrite)
    values = depth.values[0, 0].detach().float().cpu().numpy()
    import io

    buffer = io.BytesIO()
    if suffix == ".npy":
        np.save(buffer, values)
    elif suffix == ".pfm":
        height, width = values.shape
        buffer.write(f"Pf\n{width} {height}\n-1.0\n".encode())
        buffer.write(np.flipud(values).astype("<f4").tobytes())
    elif suffix in (".tif", ".tiff"):
        import tifffile

        tifffile.imwrite(buffer, values.astype(np.float32))
    else:
        import cv2

        normalised = depth.normalized().values[0, 0].cpu().numpy()
        ok, png = cv2.imencode(".png", np.round(normalised * 65535).astype(np.uint16))
        if not ok:
            raise FileFormatError("16-bit PNG encoding failed")
        buffer.write(png.tobytes())
    atomic_write_bytes(path, buffer.getvalue(), replace=overwrite)
    return path

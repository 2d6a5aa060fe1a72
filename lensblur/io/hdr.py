"""Linear HDR photos in and out: OpenEXR (half or float) and float TIFF.

Such files hold scene-linear light that was never clipped, so highlight reconstruction leaves them alone
(their ``ImageMeta.bit_depth`` is 32, "float"). Writing keeps values above 1: ``--hdr-output`` is how the
unclipped result of a render with reconstructed highlights leaves lensblur.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from .._checks import check_image
from .._optional import require
from ..errors import FileFormatError, InvalidParameterError
from .images import ImageMeta, atomic_write_bytes, atomic_write_with, check_output_path
from .limits import check_pixels, header_size

__all__ = ["HDR_SUFFIXES", "FLOAT_BIT_DEPTH", "read_hdr_image", "write_hdr_image"]

HDR_SUFFIXES = (".exr", ".tif", ".tiff")
FLOAT_BIT_DEPTH = 32


def _rgb(array: np.ndarray, path: Path) -> np.ndarray:
    if array.ndim == 2:
        array = np.repeat(array[:, :, None], 3, axis=2)
    if array.ndim != 3 or array.shape[2] < 3:
        raise FileFormatError(f"image file {str(path)!r} holds an array of shape {array.shape}; expected (H, W, 3).")
    rgb = np.ascontiguousarray(array[:, :, :3], dtype=np.float32)
    if not np.isfinite(rgb).all():
        raise FileFormatError(f"image file {str(path)!r} holds NaN or infinite values; lensblur needs finite light.")
    return np.maximum(rgb, 0.0)


def read_hdr_image(path: str | os.PathLike) -> tuple[Tensor, ImageMeta]:
    """Read a linear float photo (EXR, or a float TIFF) as ``(1, 3, H, W)`` linear RGB, values kept above 1."""
    path = Path(path)
    if not path.is_file():
        raise FileFormatError(f"image file not found: {str(path)!r}. Check the path.")
    size = header_size(path)  # EXR and TIFF headers: refuse a huge file before decoding it
    if size is not None:
        check_pixels(*size, "image", path)
    if path.suffix.lower() == ".exr":
        openexr = require("OpenEXR", extra="io", feature="reading EXR photos")
        try:
            with openexr.File(str(path)) as exr:
                channels = {name: np.array(channel.pixels, dtype=np.float32)
                            for name, channel in exr.channels().items()}
        except Exception as err:  # OpenEXR raises plain exceptions for damaged files
            raise FileFormatError(f"image file {str(path)!r} cannot be read as EXR: {err}.") from err
        if "RGB" in channels or "RGBA" in channels:
            array = channels.get("RGB", channels.get("RGBA"))
        elif all(c in channels for c in "RGB"):
            array = np.stack([channels[c] for c in "RGB"], axis=2)
        elif "Y" in channels:
            array = channels["Y"]
        else:
            raise FileFormatError(f"image file {str(path)!r} has channels {sorted(channels)}; lensblur reads R, G, B or Y.")
    else:
        import tifffile

        try:
            array = tifffile.imread(path)
        except Exception as err:  # tifffile raises several types for damaged files
            raise FileFormatError(f"image file {str(path)!r} cannot be read as TIFF: {err}.") from err
    image = torch.from_numpy(_rgb(np.asarray(array), path)).permute(2, 0, 1)[None].contiguous()
    return image, ImageMeta(path=str(path), bit_depth=FLOAT_BIT_DEPTH)


def write_hdr_image(path: str | os.PathLike, image: Tensor, *, overwrite: bool = False,
                    inputs=()) -> Path:
    """Write linear RGB, unclipped, as a float32 EXR (``.exr``, zip-compressed) or float TIFF, atomically."""
    if isinstance(image, Tensor) and image.ndim == 3:
        image = image[None]
    check_image(image)
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in HDR_SUFFIXES:
        raise InvalidParameterError(
            f"HDR output {str(path)!r} has suffix {suffix or '(none)'!r}; use .exr or .tif (float TIFF).")
    path = check_output_path(path, overwrite=overwrite, inputs=inputs)
    rgb = np.ascontiguousarray(image[0].detach().float().cpu().clamp_min(0).permute(1, 2, 0).numpy())
    if suffix == ".exr":
        openexr = require("OpenEXR", extra="io", feature="writing EXR files")
        header = {"compression": openexr.ZIP_COMPRESSION, "type": openexr.scanlineimage}

        def write(tmp: str) -> None:
            with openexr.File(header, {"RGB": rgb}) as exr:
                exr.write(tmp)

        atomic_write_with(path, write, replace=overwrite)
        return path
    import tifffile

    buffer = io.BytesIO()
    tifffile.imwrite(buffer, rgb, photometric="rgb", compression="zlib")
    atomic_write_bytes(path, buffer.getvalue(), replace=overwrite)
    return path

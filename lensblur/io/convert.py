"""What Python users hold, turned into lensblur's convention: numpy arrays, PIL images, tensors and paths.

Images become ``(1, 3, H, W)`` float32 linear RGB plus an :class:`ImageMeta` whose ``bit_depth`` says how they
were stored (which highlight reconstruction needs):

* ``uint8`` / ``uint16`` arrays and tensors, and 8/16-bit PIL images: sRGB-encoded, decoded to linear
  (``bit_depth`` 8 or 16);
* ``float`` arrays and tensors: linear light already, unless ``encoding="srgb"`` says they hold sRGB values
  in [0, 1] (``bit_depth`` 32: nothing clipped);
* shapes ``(H, W)`` (grey), ``(H, W, 3)``, ``(3, H, W)`` and ``(1, 3, H, W)``; an alpha channel is refused
  with a message (flatten it onto a background first: lensblur has no transparency);
* a path is read from its file (``read_image``).

Depth arrays and tensors ``(H, W)`` or ``(1, 1, H, W)`` become a :class:`DepthMap` of the ``kind`` the caller
states; a path is read by ``read_depth``.
"""

from __future__ import annotations

import os
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor

from .._colour import srgb_decode
from ..errors import InputError, InvalidParameterError
from ..types import DepthKind, DepthMap, DepthScale
from .images import LOSSY_FORMATS, ImageMeta, read_image

__all__ = ["as_image", "as_depth", "as_matte"]

Encoding = Literal["srgb", "linear"]
_FLOAT32_MAX = float(np.finfo(np.float32).max)


def _kind_of(x: Any) -> str:
    return f"{type(x).__module__}.{type(x).__name__}"


def as_image(image: Any, *, encoding: Encoding | None = None) -> tuple[Tensor, ImageMeta]:
    """``(linear (1, 3, H, W) float32, meta)`` from a path, numpy array, PIL image or tensor (see the module doc).

    Example:
        >>> rgb = np.full((2, 3, 3), 255, np.uint8)
        >>> image, meta = as_image(rgb)
        >>> tuple(image.shape), float(image.max()), meta.bit_depth
        ((1, 3, 2, 3), 1.0, 8)
    """
    if encoding not in (None, "srgb", "linear"):
        raise InvalidParameterError(f"encoding must be 'srgb', 'linear' or None (from the dtype); got {encoding!r}.")
    if isinstance(image, (str, os.PathLike)):
        return read_image(image)
    lossy = False
    if type(image).__module__.startswith("PIL."):
        lossy = (getattr(image, "format", None) or "").upper() in LOSSY_FORMATS  # a PIL image opened from a JPEG
        image = _from_pil(image)
    if isinstance(image, Tensor):
        image = image.detach().cpu()
        array = image.numpy() if image.dtype != torch.bfloat16 else image.float().numpy()
    elif isinstance(image, np.ndarray):
        array = image
    else:
        raise InputError(
            f"image must be a path, a numpy array, a PIL image or a torch tensor; got {_kind_of(image)}.")
    array = _hwc(np.asarray(array))
    if array.dtype == np.uint8 or array.dtype == np.uint16:
        if encoding == "linear":
            raise InvalidParameterError(
                f"an {array.dtype} image holds sRGB code values; encoding='linear' is for float images only.")
        bits = 8 if array.dtype == np.uint8 else 16
        values = torch.from_numpy(array.astype(np.float32) / np.iinfo(array.dtype).max)
        linear = srgb_decode(values)
    elif np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all():
            raise InputError("image holds NaN or infinite values; replace them before rendering.")
        if array.size and float(np.abs(array).max()) > _FLOAT32_MAX:
            raise InputError(f"image holds values up to {float(np.abs(array).max()):.3g}, beyond float32's range "
                             f"({_FLOAT32_MAX:.3g}); scale the light down first.")
        values = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
        if float(values.min()) < 0:
            raise InputError(f"image holds negative values (min {float(values.min()):.3g}); light is >= 0.")
        bits = 32
        linear = srgb_decode(values.clamp(0, 1)) if encoding == "srgb" else values
    else:
        raise InputError(f"image dtype must be uint8, uint16 or float; got {array.dtype}.")
    return linear.permute(2, 0, 1)[None].contiguous(), ImageMeta(path=None, bit_depth=bits, lossy=lossy)


def _from_pil(pil: Any) -> np.ndarray:
    mode = pil.mode
    if mode in ("I;16", "I;16B", "I;16L"):
        return np.asarray(pil, dtype=np.uint16)
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in pil.info):
        raise InputError(
            f"the PIL image has an alpha channel (mode {mode!r}); lensblur renders opaque photos. Flatten it first, "
            "e.g. Image.alpha_composite(Image.new('RGBA', im.size, 'white'), im).convert('RGB').")
    if mode == "F":
        return np.asarray(pil, dtype=np.float32)
    return np.asarray(pil.convert("RGB"))


def _hwc(array: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` from (H, W), (H, W, 3), (3, H, W) or (1, 3, H, W); alpha refused."""
    if array.ndim == 4 and array.shape[0] == 1:
        array = array[0]
    if array.ndim == 2:
        return np.repeat(array[:, :, None], 3, axis=2)
    if array.ndim == 3 and array.shape[0] in (3, 4) and array.shape[2] > 4:  # channels first
        array = np.moveaxis(array, 0, 2)
    if array.ndim == 3 and array.shape[2] == 4:
        raise InputError(
            "image has 4 channels (RGBA); lensblur renders opaque photos: drop or flatten the alpha channel "
            "first (for example rgb = rgba[..., :3] over a background).")
    if array.ndim != 3 or array.shape[2] != 3 or min(array.shape[:2]) < 1:
        raise InputError(
            f"image must have shape (H, W, 3), (3, H, W), (1, 3, H, W) or (H, W); got {tuple(array.shape)}.")
    return array


def as_depth(depth: Any, *, kind: DepthKind | None = None, scale: DepthScale = "relative") -> DepthMap:
    """A :class:`DepthMap` from a DepthMap, a path, or an ``(H, W)`` / ``(1, 1, H, W)`` array or tensor.

    ``kind`` is required for arrays and tensors (and for files that do not say): ``"disparity"`` (larger =
    nearer, Depth Anything / MiDaS) or ``"depth"`` (larger = farther, metres).

    Example:
        >>> as_depth(np.ones((4, 5)), kind="disparity").values.shape
        torch.Size([1, 1, 4, 5])
    """
    if isinstance(depth, DepthMap):
        return depth
    if isinstance(depth, (str, os.PathLike)):
        from .depth_files import read_depth

        return read_depth(depth, kind=kind, scale=scale)
    if kind is None:
        raise InvalidParameterError(
            "depth_kind is needed with a depth array: 'disparity' (larger = nearer; Depth Anything, MiDaS) or "
            "'depth' (larger = farther; metres).")
    return DepthMap.from_array(depth, kind=kind, scale=scale)



def as_matte(matte: Any) -> Tensor:
    """A subject matte ``(1, 1, h, w)`` float32 in [0, 1] (1 = subject) from a path (any grayscale or colour
    image: its luminance), a numpy array or tensor (``(h, w)``, ``(1, h, w)`` or ``(1, 1, h, w)``; uint8 /
    uint16 scaled by their maximum, bool as 0/1, float taken as is and required in [0, 1]) or a PIL image.
    Any resolution: the renderer upsamples it to the photo with the photo as guide.

    Example:
        >>> as_matte(np.full((4, 6), 255, np.uint8)).shape
        torch.Size([1, 1, 4, 6])
    """
    if isinstance(matte, (str, os.PathLike)):
        from pathlib import Path

        from .images import _open_pil

        with _open_pil(Path(matte), "subject matte") as pil:
            matte = np.asarray(pil.convert("I;16") if pil.mode in ("I", "I;16", "I;16B") else pil.convert("L"))
    elif type(matte).__module__.startswith("PIL."):
        matte = np.asarray(matte.convert("L"))
    if isinstance(matte, Tensor):
        matte = matte.detach().cpu().numpy()
    if not isinstance(matte, np.ndarray):
        raise InvalidParameterError(f"subject_matte must be a path, numpy array, tensor or PIL image; got "
                                    f"{_kind_of(matte)}.")
    values = np.squeeze(matte)
    if values.ndim != 2:
        raise InvalidParameterError(f"subject_matte must be one channel, (h, w); got shape {matte.shape}.")
    if values.dtype == np.bool_:
        values = values.astype(np.float32)
    elif values.dtype == np.uint8:
        values = values.astype(np.float32) / 255.0
    elif values.dtype == np.uint16:
        values = values.astype(np.float32) / 65535.0
    elif np.issubdtype(values.dtype, np.floating):
        values = values.astype(np.float32)
        if not np.isfinite(values).all() or values.min() < 0 or values.max() > 1:
            raise InvalidParameterError(
                f"subject_matte as floats must lie in [0, 1] (1 = subject); got values from {np.nanmin(values):.3g} "
                f"to {np.nanmax(values):.3g}{' and NaN/inf' if not np.isfinite(values).all() else ''}.")
    else:
        raise InvalidParameterError(f"subject_matte must be uint8, uint16, bool or float in [0, 1]; got dtype "
                                    f"{values.dtype}.")
    return torch.from_numpy(np.ascontiguousarray(values))[None, None]

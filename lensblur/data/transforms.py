"""Geometric augmentation that keeps a pair (and its depth) aligned, and the coordinate map honest."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..errors import InputError, InvalidParameterError
from ..models.mpfn import coordinate_map

__all__ = ["PairedTransform"]


@dataclass(frozen=True)
class PairedTransform:
    """The same random flips, 90° rotation and crop for every array of a pair.

    The transform is applied to the whole frame first and the crop taken after, so the coordinate map is
    the crop of the *transformed* frame's map: a flipped photo is just another photo, with x = −0.5 on its
    left (what the network sees at test time), not a map that runs backwards.

    Attributes:
        crop: square crop side in px (MPFN: 256), or ``None`` to keep the whole frame.
        flips: random horizontal and vertical flips (each p = 0.5).
        rotations: random multiples of 90° (p = 0.25 each).
        resize: ``(H, W)`` every frame is resized to first (bilinear, antialiased; depth: nearest), as
            depth-aware blending trains on whole images at 384 x 512 and then 768 x 1024.
    """

    crop: int | None = 256
    flips: bool = True
    rotations: bool = False
    resize: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        if self.crop is not None and (not isinstance(self.crop, int) or self.crop < 8):
            raise InvalidParameterError(f"PairedTransform.crop must be an integer >= 8 px or None; got {self.crop!r}")

    def __call__(self, arrays: dict[str, np.ndarray], rng: np.random.Generator) -> dict[str, torch.Tensor]:
        """``arrays``: ``(H, W, C)`` numpy arrays of one frame; returns ``(C, h, w)`` tensors plus ``coords``."""
        if self.flips and rng.random() < 0.5:
            arrays = {k: v[:, ::-1] for k, v in arrays.items()}
        if self.flips and rng.random() < 0.5:
            arrays = {k: v[::-1] for k, v in arrays.items()}
        if self.rotations:
            turns = int(rng.integers(0, 4))
            arrays = {k: np.rot90(v, turns, axes=(0, 1)) for k, v in arrays.items()}
        if self.resize is not None:
            arrays = {k: _resize(v, self.resize, nearest=(k == "depth")) for k, v in arrays.items()}
        height, width = next(iter(arrays.values())).shape[:2]
        top = left = 0
        size_h, size_w = height, width
        if self.crop is not None:
            if self.crop > min(height, width):
                raise InputError(f"PairedTransform: crop {self.crop} px does not fit a {height}x{width} frame; "
                                 "use a smaller crop")
            top = int(rng.integers(0, height - self.crop + 1))
            left = int(rng.integers(0, width - self.crop + 1))
            size_h = size_w = self.crop
        out = {k: torch.from_numpy(np.ascontiguousarray(v[top:top + size_h, left:left + size_w]).transpose(2, 0, 1).copy())
               for k, v in arrays.items()}
        out["coords"] = coordinate_map(size_h, size_w, top=top, left=left, frame=(height, width))[0]
        return out


def _resize(array: np.ndarray, size: tuple[int, int], *, nearest: bool) -> np.ndarray:
    if array.shape[:2] == tuple(size):
        return array
    x = torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1)[None]
    if nearest:
        x = torch.nn.functional.interpolate(x, size=size, mode="nearest")
    else:
        x = torch.nn.functional.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)
    return x[0].permute(1, 2, 0).numpy()

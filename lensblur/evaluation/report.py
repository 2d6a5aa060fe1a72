"""Writing evaluation results: previews, Markdown tables, JSON with run metadata, plots."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from ..io.images import srgb_to_linear, write_image

__all__ = ["save_display_png"]


def save_display_png(path: str | os.PathLike, display: np.ndarray, *, overwrite: bool = True) -> Path:
    """Write a display-encoded ``(H, W, 3)`` image in [0, 1] as an 8-bit PNG holding those same values."""
    tensor = torch.from_numpy(np.ascontiguousarray(np.clip(display, 0, 1), dtype=np.float32)).permute(2, 0, 1)
    # write_image encodes linear light as sRGB; decoding first makes the file hold the display values
    return write_image(path, srgb_to_linear(tensor)[None], overwrite=overwrite)

"""Custom aperture images from files."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..types import Aperture
from .images import read_image

__all__ = ["read_kernel"]


def read_kernel(path: str | os.PathLike) -> Aperture:
    """Read a grey or colour picture of an aperture (bright = open) as a kernel-image Aperture.

    The brightness is taken in linear light (mean of R, G, B), so a mid-grey ring transmits what it looks
    like it does.
    """
    image, _ = read_image(Path(path))
    return Aperture(kernel=image[0].mean(dim=0).numpy().astype(np.float64))

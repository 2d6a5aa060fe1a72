"""HDR scenes for highlight reconstruction: lights brighter than white, and traps that must stay untouched.

Each kind starts from a procedural scene (``make_scene(..., highlights=False)``) and places its own
emitters in **linear radiance** (units of the file's white), anti-aliased by pixel coverage:

* ``street``: a dim scene (x0.15-0.4) with 10-30 small lights, radius 0.3-2.5 px, 2-50 x white, warm to white.
* ``coloured``: 8-20 saturated lights (one channel bright, the others 5-50 % of it), so some channels clip
  and some do not.
* ``occluded``: 10-25 lights on the background, placed where a nearer layer's edge passes, so they are
  partly hidden behind a foreground edge.
* ``lamps``: 3-8 larger lights, radius 3-6 px, 2-10 x white.
* ``bright-surface`` (trap): no light; the whole scene scaled so its brightest pixel is 85-95 % of white.
  Nothing clips, so a reconstruction must change nothing.
* ``sky`` (trap): the top 25-45 % of the background is an overcast sky of 1.2-3 x white, a large clipped
  area whose true brightness is modest.
* ``plain``: the procedural scene with its own highlights (display 1.5-4, 2.4-21 x white at γ 2.2).
* ``blown-surface`` (trap): no light; the whole scene scaled so its brightest pixel is 1.1-1.6 x white, as
  a white wall or shirt barely over full scale: clipped patches of texture whose true radiance is only a
  little above white, which a reconstruction must not take for lights.

The layers' colours stay display-encoded with ``GAMMA`` (2.2) as ``synth.scenes`` defines them, so the
ray tracer's ``gammas=(GAMMA,)`` channel is linear radiance.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy import ndimage

from .scenes import Layer, LayeredScene, make_scene, scene_rng

__all__ = ["GAMMA", "HDR_KINDS", "make_hdr_scene"]

GAMMA = 2.2
HDR_KINDS = ("street", "coloured", "occluded", "lamps", "bright-surface", "sky", "plain", "blown-surface")


def _linear(layer: Layer) -> np.ndarray:
    return np.maximum(layer.rgba[..., :3], 0.0) ** GAMMA


def _with_linear(layer: Layer, linear: np.ndarray) -> Layer:
    rgba = layer.rgba.copy()
    rgba[..., :3] = np.maximum(linear, 0.0) ** (1 / GAMMA)
    return dataclasses.replace(layer, rgba=rgba)


def _paint(linear: np.ndarray, y: float, x: float, radius: float, radiance: np.ndarray) -> None:
    """An anti-aliased disc (4x4 supersampled coverage) of ``radiance`` over ``linear`` (H, W, 3), in place."""
    r = int(np.ceil(radius + 1))
    yi, xi = int(round(y)), int(round(x))
    y0, y1 = max(0, yi - r), min(linear.shape[0], yi + r + 1)
    x0, x1 = max(0, xi - r), min(linear.shape[1], xi + r + 1)
    if y0 >= y1 or x0 >= x1:
        return
    ss = 4
    yy, xx = np.mgrid[y0 * ss:y1 * ss, x0 * ss:x1 * ss]
    yy = (yy + 0.5) / ss - 0.5
    xx = (xx + 0.5) / ss - 0.5
    cover = ((yy - y) ** 2 + (xx - x) ** 2 <= radius ** 2).reshape(y1 - y0, ss, x1 - x0, ss).mean((1, 3))[..., None]
    linear[y0:y1, x0:x1] = linear[y0:y1, x0:x1] * (1 - cover) + radiance * cover


def _colour(rng: np.random.Generator, saturated: bool) -> np.ndarray:
    if saturated:
        colour = np.array([1.0, rng.uniform(0.05, 0.5), rng.uniform(0.05, 0.3)])
    else:
        colour = np.array([1.0, rng.uniform(0.6, 1.0), rng.uniform(0.35, 1.0)])
    return colour[rng.permutation(3)] if saturated else colour


def _lights(rng, layer: Layer, count: int, radius: tuple[float, float], radiance: tuple[float, float],
            saturated: bool, where: np.ndarray | None = None) -> Layer:
    linear = _linear(layer)
    candidates = np.argwhere((layer.rgba[..., 3] > 0.9) if where is None else where)
    if len(candidates) == 0:
        return layer
    for y, x in candidates[rng.integers(0, len(candidates), size=count)]:
        peak = float(np.exp(rng.uniform(np.log(radiance[0]), np.log(radiance[1]))))
        _paint(linear, y + rng.uniform(-0.5, 0.5), x + rng.uniform(-0.5, 0.5), float(rng.uniform(*radius)),
               peak * _colour(rng, saturated))
    return _with_linear(layer, linear)


def make_hdr_scene(seed: int, kind: str, split: str = "test", height: int = 256, width: int = 256, *,
                   margin: int = 32) -> LayeredScene:
    """The HDR scene ``seed`` of ``kind`` (one of ``HDR_KINDS``); deterministic.

    Example:
        >>> scene = make_hdr_scene(0, "street", height=32, width=32, margin=4)
        >>> float((scene.layers[0].rgba[..., :3] ** GAMMA).max()) > 1.5
        True
    """
    if kind not in HDR_KINDS:
        raise ValueError(f"kind must be one of {HDR_KINDS}; got {kind!r}")
    scene = make_scene(seed, split, height, width, margin=margin, highlights=kind == "plain")
    if kind == "plain":
        return scene
    rng = np.random.default_rng([scene_rng(seed, split).integers(1 << 31), HDR_KINDS.index(kind), 0x4844])
    layers = list(scene.layers)
    if kind == "street":
        dim = rng.uniform(0.15, 0.4)
        layers = [_with_linear(layer, _linear(layer) * dim) for layer in layers]
        layers[0] = _lights(rng, layers[0], int(rng.integers(10, 31)), (0.3, 2.5), (2.0, 50.0), False)
    elif kind == "coloured":
        dim = rng.uniform(0.3, 0.6)
        layers = [_with_linear(layer, _linear(layer) * dim) for layer in layers]
        pick = int(rng.integers(0, len(layers)))
        layers[pick] = _lights(rng, layers[pick], int(rng.integers(8, 21)), (0.5, 3.0), (2.0, 50.0), True)
    elif kind == "occluded":
        layers = [_with_linear(layer, _linear(layer) * 0.5) for layer in layers]
        front = np.max([layer.rgba[..., 3] for layer in layers[1:]], axis=0)
        edge = ndimage.uniform_filter(front, 9)
        where = (edge > 0.2) & (edge < 0.8) & (layers[0].rgba[..., 3] > 0.9)
        layers[0] = _lights(rng, layers[0], int(rng.integers(10, 26)), (0.5, 2.5), (2.0, 50.0), False, where)
    elif kind == "lamps":
        layers = [_with_linear(layer, _linear(layer) * 0.5) for layer in layers]
        layers[0] = _lights(rng, layers[0], int(rng.integers(3, 9)), (3.0, 6.0), (2.0, 10.0), False)
    elif kind in ("bright-surface", "blown-surface"):
        top = max(float(_linear(layer)[layer.rgba[..., 3] > 0].max(initial=0.0)) for layer in layers)
        scale = rng.uniform(*((0.85, 0.95) if kind == "bright-surface" else (1.1, 1.6))) / max(top, 1e-6)
        layers = [_with_linear(layer, _linear(layer) * scale) for layer in layers]
    elif kind == "sky":
        linear = _linear(layers[0])
        horizon = int(margin + rng.uniform(0.25, 0.45) * height)
        linear[:horizon] = rng.uniform(1.2, 3.0) * np.array([0.92, 0.96, 1.0])
        layers[0] = _with_linear(layers[0], linear)
    return dataclasses.replace(scene, layers=tuple(layers))

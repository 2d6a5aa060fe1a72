"""Ground-truth defocus of a layered scene by thin-lens ray tracing.

The model. A thin lens focused at disparity d_f images a scene point of disparity d, whose pinhole
projection is q, as a blur spot of radius r = K·(d − d_f) px (BokehMe's K, in px per unit of
disparity): the ray through the normalised aperture point u (|u| <= 1 for the circle) lands at
p = q − r·u. So a background point (r < 0) draws the aperture as it is stored, a foreground point
(r > 0) draws it rotated by 180°, as in a real camera. Turned around, the ray of output pixel p through
aperture point u meets a layer's plane d(q) = a + g·q where q = p + K·(d(q) − d_f)·u, a 2 x 2 linear
system with the closed-form solution used in the kernel.

Each output pixel integrates over the aperture; every ray is composited front to back through the
layers in the order of the disparities at its hits, which makes partial occlusion exact: a pixel next to
a blurred foreground edge sees the part of the background that the unblocked part of the aperture sees.

Quadrature. The aperture's bounding square is cut into an m x m grid of cells, m chosen per pixel so
that a cell's footprint on the most blurred layer around the pixel is at most ``cell_px`` pixels wide
(adaptive: more rays where the blur is large; deterministic, so there is no noise). Each cell is
weighted by the fraction of it inside the aperture, and its ray reads each layer as the exact mean of
the texels under the cell's footprint (a summed-area table), so one fronto-parallel layer gives exactly
the convolution of its texels with the aperture rasterised on the cell grid. Only occlusion inside a
single cell is approximated (the cell's mean alpha is used), an error that shrinks with ``cell_px``.

Colour. Layer colours are display-encoded values D; for each gamma γ the tracer sums the
premultiplied linear values α·D^γ, all γ in the same pass (BokehMe's gamma input: the image is raised to
γ before rendering and to 1/γ after). ``GroundTruth.image(γ)`` gives the display-encoded result,
clipped to [0, 1] like a photo; the ``*_linear`` arrays keep the unclipped HDR sums.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..errors import InvalidParameterError
from ..optics.apertures import outline_radius
from ..types import CIRCLE, Aperture
from .scenes import LayeredScene

__all__ = ["GroundTruth", "trace_all_in_focus", "trace_defocus", "aperture_cells", "layer_stack"]

DEFAULT_CELL_PX = 1.0
DEFAULT_MAX_CELLS = 128  # aperture grid side cap: a 128 x 128 grid, ~12,900 rays per pixel for a circle


@dataclass(frozen=True, eq=False)
class GroundTruth:
    """Ray-traced renders of one scene for one lens setting and several gammas.

    Attributes:
        gammas: the gammas γ, in the order of the first axis of the image arrays.
        all_in_focus_linear: ``(G, H, W, 3)`` float32, the pinhole image as Σ α·D^γ (unclipped).
        bokeh_linear: ``(G, H, W, 3)`` float32, the defocused image in the same encoding, or None.
        disparity: ``(H, W)`` float32, the disparity of the front-most layer with alpha >= 0.5.
        strength_px, focus_disparity, aperture: the lens setting (BokehMe's K and d_f).
        rays_per_pixel: ``(H, W)`` int32, aperture cells traced per pixel (m x m grid inside the shape).
    """

    gammas: tuple[float, ...]
    all_in_focus_linear: np.ndarray = field(repr=False)
    bokeh_linear: np.ndarray | None = field(repr=False)
    disparity: np.ndarray = field(repr=False)
    strength_px: float = 0.0
    focus_disparity: float = 0.0
    aperture: Aperture = CIRCLE
    rays_per_pixel: np.ndarray | None = field(default=None, repr=False)

    def _index(self, gamma: float) -> int:
        for i, g in enumerate(self.gammas):
            if abs(g - gamma) < 1e-9:
                return i
        raise InvalidParameterError(f"gamma must be one of the traced gammas {self.gammas}; got {gamma!r}")

    def image(self, gamma: float) -> np.ndarray:
        """The defocused image for ``gamma``, display-encoded and clipped to [0, 1], ``(H, W, 3)``."""
        if self.bokeh_linear is None:
            raise InvalidParameterError("this GroundTruth holds no defocused image; use trace_defocus()")
        return _display(self.bokeh_linear[self._index(gamma)], gamma)

    def all_in_focus(self, gamma: float) -> np.ndarray:
        """The all-in-focus input image for ``gamma``, display-encoded and clipped, ``(H, W, 3)``."""
        return _display(self.all_in_focus_linear[self._index(gamma)], gamma)


def _display(linear: np.ndarray, gamma: float) -> np.ndarray:
    return np.clip(np.maximum(linear, 0.0) ** (1.0 / gamma), 0.0, 1.0).astype(np.float32)


def _check_gammas(gammas) -> tuple[float, ...]:
    gammas = tuple(float(g) for g in np.atleast_1d(gammas))
    if not gammas or any(not (math.isfinite(g) and g > 0) for g in gammas):
        raise InvalidParameterError(f"gammas must be positive numbers (BokehMe uses 1..5); got {gammas!r}")
    return gammas


def layer_stack(scene: LayeredScene, gammas) -> tuple[np.ndarray, np.ndarray]:
    """Per-layer channels ``[α·D^γ1 (RGB), α·D^γ2 (RGB), ..., α]`` and their planes.

    Returns ``(tex (L, Hp, Wp, 3G + 1) float32, planes (L, 3) float64)``.
    """
    gammas = _check_gammas(gammas)
    layers = scene.layers
    hp, wp = layers[0].rgba.shape[:2]
    tex = np.empty((len(layers), hp, wp, 3 * len(gammas) + 1), np.float32)
    for i, layer in enumerate(layers):
        colour = np.maximum(layer.rgba[..., :3], 0.0)
        alpha = layer.rgba[..., 3:4]
        for g, gamma in enumerate(gammas):
            tex[i, ..., 3 * g:3 * g + 3] = alpha * colour ** gamma
        tex[i, ..., -1] = alpha[..., 0]
    planes = np.array([layer.plane for layer in layers], dtype=np.float64)
    return tex, planes


def _summed_area(tex: np.ndarray) -> np.ndarray:
    sat = np.zeros((tex.shape[0], tex.shape[1] + 1, tex.shape[2] + 1, tex.shape[3]), np.float64)
    np.cumsum(tex, axis=1, dtype=np.float64, out=sat[:, 1:, 1:])
    np.cumsum(sat[:, 1:, 1:], axis=2, out=sat[:, 1:, 1:])
    return sat


def _inside(u: np.ndarray, v: np.ndarray, aperture: Aperture) -> np.ndarray:
    """Aperture weight at unit-square points (u right, v down): 0/1 for shapes, the image for kernels."""
    if aperture.kernel is not None:
        k = aperture.kernel / aperture.kernel.max()
        side = max(k.shape)
        square = np.zeros((side, side))
        oy, ox = (side - k.shape[0]) // 2, (side - k.shape[1]) // 2
        square[oy:oy + k.shape[0], ox:ox + k.shape[1]] = k
        iy = np.clip(((v + 1) / 2 * side).astype(np.int64), 0, side - 1)
        ix = np.clip(((u + 1) / 2 * side).astype(np.int64), 0, side - 1)
        return square[iy, ix]
    rho = np.hypot(u, v)
    return (rho <= outline_radius(np.arctan2(-v, u), aperture)).astype(np.float64)


def aperture_cells(aperture: Aperture, grids) -> tuple[np.ndarray, np.ndarray]:
    """Cells ``(u, v, weight)`` of the m x m aperture grids for every m in ``grids``.

    Returns ``(start, cells)``: the cells of grid m are ``cells[start[m]:start[m + 1]]``; weight is
    the fraction of the cell inside the aperture (from 8 x 8 sub-samples; 4 x 4 above m = 64).
    """
    grids = sorted({int(m) for m in grids})
    m_max = grids[-1]
    start = np.zeros(m_max + 2, np.int64)
    chunks = []
    count = 0
    for m in range(1, m_max + 1):
        start[m] = count
        if m not in grids:
            continue
        ss = 8 if m <= 64 else 4
        axis = -1.0 + (2.0 * np.arange(m * ss) + 1.0) / (m * ss)
        uu, vv = np.meshgrid(axis, axis)
        weight = _inside(uu, vv, aperture).reshape(m, ss, m, ss).mean(axis=(1, 3))
        centre = -1.0 + (2.0 * np.arange(m) + 1.0) / m
        cu, cv = np.meshgrid(centre, centre)
        keep = weight > 0
        chunk = np.stack([cu[keep], cv[keep], weight[keep]], axis=1)
        chunks.append(chunk)
        count += len(chunk)
    start[m_max + 1] = count
    return start, np.concatenate(chunks).astype(np.float64)


def trace_all_in_focus(scene: LayeredScene, gammas=(2.2,)) -> GroundTruth:
    """The pinhole (all-in-focus) image and the front-most disparity map of ``scene``."""
    gammas = _check_gammas(gammas)
    tex, planes = layer_stack(scene, gammas)
    return _pinhole(scene, tex, planes, gammas)


def _pinhole(scene: LayeredScene, tex: np.ndarray, planes: np.ndarray, gammas: tuple[float, ...]) -> GroundTruth:
    from ._trace_kernel import pinhole

    out = np.zeros((scene.height, scene.width, tex.shape[3] - 1), np.float32)
    disparity = np.zeros((scene.height, scene.width), np.float32)
    pinhole(tex, planes, scene.margin, out, disparity)
    aif = np.ascontiguousarray(out.reshape(scene.height, scene.width, len(gammas), 3).transpose(2, 0, 1, 3))
    return GroundTruth(gammas, aif, None, disparity)


def _reach_px(sat: np.ndarray, planes: np.ndarray, strength: float, focus: float, height: int, width: int,
              margin: int) -> np.ndarray:
    """Per pixel, the largest blur radius of the layers that hold any alpha within that radius of it.

    A layer's plane extends over the whole canvas, but only where it has alpha can it matter (a floor's
    plane continues above its horizon with meaningless disparities).
    """
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    reach = np.zeros((height, width))
    hp, wp = sat.shape[1] - 1, sat.shape[2] - 1
    for i, (a, b, c) in enumerate(planes):
        r = np.abs(strength * (a + b * x + c * y - focus))
        r_box = r * (1.0 + abs(strength) * (abs(b) + abs(c))) + 1.0
        x0 = np.clip(np.floor(x + margin - r_box + 0.5).astype(np.int64), 0, wp)
        x1 = np.clip(np.floor(x + margin + r_box + 0.5).astype(np.int64) + 1, 0, wp)
        y0 = np.clip(np.floor(y + margin - r_box + 0.5).astype(np.int64), 0, hp)
        y1 = np.clip(np.floor(y + margin + r_box + 0.5).astype(np.int64) + 1, 0, hp)
        alpha = sat[i, :, :, -1]
        present = (alpha[y1, x1] - alpha[y0, x1] - alpha[y1, x0] + alpha[y0, x0]) > 0
        reach = np.maximum(reach, np.where(present, r, 0.0))
    return reach


def trace_defocus(scene: LayeredScene, *, strength_px: float, focus_disparity: float,
                  aperture: Aperture = CIRCLE, gammas=(2.2,), cell_px: float = DEFAULT_CELL_PX,
                  max_cells: int = DEFAULT_MAX_CELLS) -> GroundTruth:
    """Ray-trace the defocused image of ``scene`` (see the module docstring for the model).

    Args:
        scene: a layered scene (``synth.make_scene``).
        strength_px: BokehMe's K, the blur radius in px at a disparity difference of 1 (>= 0).
        focus_disparity: BokehMe's d_f, the disparity that stays sharp.
        aperture: circle, blades or a custom kernel image (the same shapes as the classical renderer).
        gammas: the gammas to accumulate in this one pass.
        cell_px: the largest footprint of one aperture cell on a layer, in px: the accuracy knob.
        max_cells: cap on the aperture grid side m (the footprint grows beyond ``cell_px`` above it).

    Example:
        >>> from lensblur.synth import make_scene
        >>> gt = trace_defocus(make_scene(0, "test", 32, 32, margin=6), strength_px=4, focus_disparity=0.2)
        >>> gt.image(2.2).shape
        (32, 32, 3)
    """
    from ._trace_kernel import trace

    if not (isinstance(strength_px, (int, float, np.number)) and math.isfinite(strength_px) and strength_px >= 0):
        raise InvalidParameterError(f"strength_px (BokehMe's K) must be a finite number >= 0; got {strength_px!r}")
    if not math.isfinite(focus_disparity):
        raise InvalidParameterError(f"focus_disparity must be finite; got {focus_disparity!r}")
    if not (math.isfinite(cell_px) and cell_px > 0):
        raise InvalidParameterError(f"cell_px must be a positive number of pixels; got {cell_px!r}")
    if not (isinstance(max_cells, (int, np.integer)) and max_cells >= 1):
        raise InvalidParameterError(f"max_cells must be an integer >= 1; got {max_cells!r}")
    gammas = _check_gammas(gammas)
    tex, planes = layer_stack(scene, gammas)
    base = _pinhole(scene, tex, planes, gammas)
    sat = _summed_area(tex)
    reach = _reach_px(sat, planes, float(strength_px), float(focus_disparity), scene.height, scene.width,
                      scene.margin)
    if reach.max() + 1.0 > scene.margin:
        raise InvalidParameterError(
            f"the scene's margin ({scene.margin} px) is smaller than the largest blur radius "
            f"({reach.max():.1f} px) plus one: rays would leave the scene. Build the scene with "
            f"make_scene(..., margin={int(math.ceil(reach.max())) + 2}) or lower strength_px.")
    grids = np.clip(np.ceil(2.0 * reach / cell_px), 1, max_cells).astype(np.int64)
    start, cells = aperture_cells(aperture, np.unique(grids))
    out = np.zeros((scene.height, scene.width, tex.shape[3] - 1), np.float64)
    trace(tex, sat, planes, float(strength_px), float(focus_disparity), float(scene.margin), grids, start,
          cells, out)
    rays = (start[grids + 1] - start[grids]).astype(np.int32)
    bokeh = np.ascontiguousarray(
        out.reshape(scene.height, scene.width, len(gammas), 3).transpose(2, 0, 1, 3)).astype(np.float32)
    return GroundTruth(gammas, base.all_in_focus_linear, bokeh, base.disparity, float(strength_px),
                       float(focus_disparity), aperture, rays)

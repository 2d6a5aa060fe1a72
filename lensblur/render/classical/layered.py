"""Occlusion-aware layered rendering: see-through foreground edges and no halos at depth jumps.

The scatter (``scatter.py``) is right where depth is smooth and wrong where it jumps: it has no depth
order, so a blurred foreground keeps a hard outline and the background next to a sharp subject is
blurred from the wrong pixels. This renderer gets occlusion right by construction, in five steps:

1. **Layers by blur radius.** Layer centres ``c_0 < c_1 < ... `` in signed radius (far to near) are
   spaced ``max(1.5 px, spacing·|r|)`` apart, so denser near focus, and always include the data's own
   extremes and 0. A pixel belongs to its nearest centre, with a narrow linear ramp (``softness``, 30 %
   of the spacing) across the midpoint between two centres: weights w_k.
2. **Over-compositing shares.** Layer k's alpha at a pixel is its share of everything at or behind it,
   β_k = w_k / C_k with C_k = Σ_{j<=k} w_j. Composited far to near with "over", these shares give each
   layer exactly its weight back (the product of (1 − β_j) telescopes), so with no blur the result is
   the photo, exactly.
3. **The hidden background.** Where a pixel's content is two or more layers nearer than layer k (a depth
   jump), layer k is hidden there; it is filled by pull-push (Kraus & Strengert 2007) from layer k's own
   known pixels only: colour *and* alpha, so a layer continues behind an occluder as much as it
   surrounds it, with its own colours. Where the content is in the next layer (a slanted surface
   crossing a layer boundary), layer k is known to be empty: a surface does not continue behind itself.
4. **Blur per layer** with the aperture footprint of the layer's radius (``optics.apertures``, the
   scatter's exact anti-aliased footprint; foreground layers use it turned 180°, as a lens draws it),
   normalised at the frame border like the scatter. The fast path blurs a layer at a resolution
   matched to its radius (area-downsampled by s with r/s ≤ ``max_radius_lowres_px``); consecutive layers
   of one resolution are composited there and upsampled once ("over" is associative).
5. **Composite** far to near with "over" and divide by the accumulated coverage.

Away from depth jumps the layered result and the scatter describe the same physics; there the scatter
is exact in each pixel's own radius while layers quantise it, so the final image is the layered render
inside the discontinuity band (pixels within reach of a jump in blur radius, feathered) and the scatter
elsewhere (``LayeredOptions.keep_scatter_off_band``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ..._checks import check_coc, check_image, limit_radius
from ...errors import InputError, InvalidParameterError
from ...optics.apertures import MIN_RADIUS_PX, footprint
from ...types import CIRCLE, Aperture, RenderResult
from .scatter import _check_gamma, _progress_bar, from_working, scatter_encoded, to_working

__all__ = ["LayeredOptions", "layer_centres", "layer_weights", "layered_blur", "layered_reference",
           "discontinuity_mask", "pull_push", "sharpen_soft_edges", "soft_edge_width", "SubjectSplit",
           "subject_split", "unmix_colours", "matte_to_photo"]


RIM_MAX_RADIUS_PX = 8.0    # full-resolution layers up to this radius fill their hidden part only near its rim
MAX_SOFT_EDGE_PX = 64      # sharpening windows up to 129 px (the separable max filter's exact range)
COARSE_BLOCK_PX = 16       # the layered fill's strip-exact split: pyramid levels at and above 16-px blocks
STRIP_PIXELS = 8_000_000   # a strip of the layered composite holds about this many pixels with its margins
SLANT_RATIO = 1.6         # a slant's range doubles from the half window to the whole; a ramp's grows < 1.6x
SOFT_EDGE_MIN_PX = 6.0     # below this: an exact map (about 2 px), a mild upsampling or a refined map


@dataclass(frozen=True)
class LayeredOptions:
    """Knobs of the layered renderer.

    Attributes:
        spacing: layer spacing as a fraction of the radius (layers are ``max(min_step_px, spacing·|r|)`` apart).
        min_step_px: the closest two layers get (near focus). 1.5 px, not 1: four fewer full-resolution layers
            at 1080p (about 25 % of the layered time) for 0.02 dB on the 90-case set (band still +3.0 dB).
        softness: width of the soft ramp between two neighbouring layers, as a fraction of their
            spacing (0 = hard assignment to the nearest centre, 1 = tent weights). A soft ramp hides the
            seam on a slanted surface, but where one object is split between two layers both copies
            carry its outline, and "over" then covers its blurred edge twice (measured: 1 → 28.0 dB,
            0.3 → 31.9 dB, 0 → 31.8 dB on 12 ray-traced cases, ARCHITECTURE.md).
        max_radius_lowres_px: the fast path blurs a layer of radius r at 1/s resolution, s the largest
            power of two with r/s >= this (1 = full resolution always, as the reference does).
        keep_scatter_off_band: use the scatter away from depth jumps (the layered render inside the band).
        jump_px: a jump is a blur-radius range above this within a 5x5 window.
        feather_px: width of the ramp between the band and the scatter.
        soft_edge_px: how far a soft depth edge spreads (px): an upsampled or estimated map blurs each
            jump over several pixels, which the layers would take for a slanted surface. None measures it
            from the map (:func:`soft_edge_width`; exact maps measure about 2 px and are left alone), 0
            leaves the map as given, a number sharpens edges of that half-width (:func:`sharpen_soft_edges`).
        tile_rows: render the layers in strips of this many rows (rounded down to 16-px blocks), each with
            a margin, to bound memory; the result equals one strip's. None: about 8 MP per strip.
    """

    spacing: float = 0.2
    softness: float = 0.3
    max_radius_lowres_px: float = 3.0
    min_step_px: float = 1.5
    keep_scatter_off_band: bool = True
    jump_px: float = 2.0
    feather_px: int = 4
    soft_edge_px: float | None = None
    tile_rows: int | None = None

    def __post_init__(self) -> None:
        if not (isinstance(self.spacing, (int, float)) and 0.02 <= self.spacing <= 1.0):
            raise InvalidParameterError(
                f"LayeredOptions.spacing must be a fraction of the radius in [0.02, 1]; got {self.spacing!r}.")
        if not (isinstance(self.softness, (int, float)) and 0.0 <= self.softness <= 1.0):
            raise InvalidParameterError(
                f"LayeredOptions.softness must be a fraction of the layer spacing in [0, 1]; got {self.softness!r}.")
        if not (isinstance(self.max_radius_lowres_px, (int, float)) and self.max_radius_lowres_px >= 1.0):
            raise InvalidParameterError(
                "LayeredOptions.max_radius_lowres_px must be >= 1 (1 = blur every layer at full resolution); "
                f"got {self.max_radius_lowres_px!r}.")
        if not (isinstance(self.min_step_px, (int, float)) and 0.25 <= self.min_step_px <= 8.0):
            raise InvalidParameterError(
                f"LayeredOptions.min_step_px must be the closest layer spacing in px, in [0.25, 8]; got {self.min_step_px!r}.")
        if not (isinstance(self.jump_px, (int, float)) and self.jump_px > 0):
            raise InvalidParameterError(f"LayeredOptions.jump_px must be > 0 px; got {self.jump_px!r}.")
        if not (isinstance(self.feather_px, int) and self.feather_px >= 0):
            raise InvalidParameterError(f"LayeredOptions.feather_px must be an integer >= 0; got {self.feather_px!r}.")
        if self.tile_rows is not None and not (isinstance(self.tile_rows, int) and self.tile_rows >= COARSE_BLOCK_PX):
            raise InvalidParameterError(
                f"LayeredOptions.tile_rows must be None (automatic) or an integer >= {COARSE_BLOCK_PX}; "
                f"got {self.tile_rows!r}.")
        if self.soft_edge_px is not None and not (isinstance(self.soft_edge_px, (int, float))
                                                  and 0 <= self.soft_edge_px <= MAX_SOFT_EDGE_PX):
            raise InvalidParameterError(
                f"LayeredOptions.soft_edge_px must be None (measure it), 0 (exact depth edges) or a half-width "
                f"in px up to {MAX_SOFT_EDGE_PX}; got {self.soft_edge_px!r}.")


# --------------------------------------------------------------------------------------------- layers

def layer_centres(r_min: float, r_max: float, spacing: float = 0.2, min_step: float = 1.5) -> np.ndarray:
    """Signed layer radii from ``r_min`` (farthest) to ``r_max`` (nearest), ``max(min_step, spacing·|r|)`` apart.

    The grid runs outwards from 0 on both sides and always ends exactly on ``r_min`` and ``r_max``; 0 is a
    centre whenever it lies in the range, so in-focus pixels sit on a layer. A constant map is one layer.

    Example:
        >>> layer_centres(-3.0, 2.5).tolist()
        [-3.0, -1.5, 0.0, 1.5, 2.5]
    """
    if r_max < r_min:
        raise InvalidParameterError(f"r_max must be >= r_min; got r_min={r_min}, r_max={r_max}.")
    if r_max - r_min < 1e-6:
        return np.array([r_min])

    def side(limit: float) -> list[float]:
        out, r = [], 0.0
        while True:
            r = r + max(min_step, spacing * r)
            if r >= limit - 1e-6 or r >= limit * (1 - 0.25 * spacing):
                return out + [limit]
            out.append(r)

    centres: list[float] = []
    if r_min < 0:
        centres += [-r for r in reversed(side(-r_min))]
    if r_min <= 0 <= r_max:
        centres.append(0.0)
    if r_max > 0:
        centres += side(r_max)
    centres = [c for c in centres if r_min - 1e-9 <= c <= r_max + 1e-9]
    if r_min > 0:   # everything in front of focus: the grid starts at the nearest-to-focus value
        centres = [r_min] + [c for c in centres if c > r_min + 1e-6]
    if r_max < 0:
        centres = [c for c in centres if c < r_max - 1e-6] + [r_max]
    return np.array(sorted(set(centres)))


def _cumulative(coc: Tensor | np.ndarray, centres: np.ndarray, k: int, softness: float):
    """C_k: the weight of layers 0..k at each pixel: 1 behind the midpoint of c_k and c_{k+1}, 0 in front
    of it, with a linear ramp ``softness`` times the spacing wide across the midpoint."""
    if k >= len(centres) - 1:
        return coc * 0 + 1
    lo, hi = float(centres[k]), float(centres[k + 1])
    mid, width = 0.5 * (lo + hi), max(softness * (hi - lo), 1e-6)
    value = (mid + 0.5 * width - coc) / width
    return value.clip(0.0, 1.0) if isinstance(value, np.ndarray) else value.clamp(0.0, 1.0)


def layer_weights(coc, centres: np.ndarray, k: int, softness: float = 0.3):
    """Layer k's weight w_k, its alpha and the mask of pixels where it is hidden behind a jump.

    The alpha is the over-compositing share β_k = w_k / C_k (0 where C_k = 0: the pixel's content is
    nearer). ``hidden`` marks the pixels whose content is two or more layers nearer (a depth jump): there
    layer k is unknown and gets filled. Pixels whose content is in the next layer are known to be empty
    for layer k: a slanted surface does not continue behind itself.
    """
    c_k = _cumulative(coc, centres, k, softness)
    c_prev = _cumulative(coc, centres, k - 1, softness) if k > 0 else coc * 0
    weight = c_k - c_prev
    share = weight / c_k.clip(1e-12) if isinstance(c_k, np.ndarray) else weight / c_k.clamp_min(1e-12)
    share = share * (c_k > 0)
    hidden = coc >= float(centres[k + 2]) if k + 2 < len(centres) else coc < -math.inf
    return weight, share, hidden


@dataclass(frozen=True)
class SubjectSplit:
    """A matte's split of each pixel between the subject and what lies behind its outline.

    ``alpha`` is the matte at the photo's size (1 = subject); ``coc_subject`` and ``coc_behind`` are the
    blur radius of each part, each filled in from the matte's own side (pull-push from pixels well inside,
    resp. well outside the outline), so a hair pixel's radius is not the estimated depth's smeared value.
    """

    alpha: Tensor
    coc_subject: Tensor
    coc_behind: Tensor
    subject_colour: Tensor | None = None
    behind_colour: Tensor | None = None


def subject_split(coc: Tensor, matte: Tensor, *, image: Tensor | None = None,
                  margin_px: int | None = None) -> SubjectSplit | None:
    """The :class:`SubjectSplit` of ``coc (1, 1, H, W)`` by ``matte (1, 1, H, W)`` in [0, 1], or None when
    the matte has no inside or no outside. With ``image (1, C, H, W)``, also each part's colour
    (:func:`unmix_colours`): a hair pixel mixes the subject's colour with the background's, and each layer
    must get its own part, or the background's layer carries the hair's colour into its blur.

    Estimated depth has soft, misplaced edges, so neither side trusts the depth near the outline: the
    subject's radius is filled from pixels with matte > 0.9 that are at least ``margin_px`` inside it, the
    background's from pixels with matte < 0.1 at least ``margin_px`` outside (default: 1 % of the longer
    side, at least 3 px). Where the matte is 1 or 0 the radius of that side is the map's own.
    """
    if margin_px is None:
        margin_px = max(3, round(0.01 * max(coc.shape[-2:])))
    alpha = matte.to(coc).clamp(0.0, 1.0)
    size = 2 * margin_px + 1
    inside = 1.0 - _dilate((alpha <= 0.9).to(coc.dtype), size)
    outside = 1.0 - _dilate((alpha >= 0.1).to(coc.dtype), size)
    if not bool((inside > 0).any()) or not bool((outside > 0).any()):
        return None
    subject = torch.where(alpha >= 1.0, coc, pull_push(coc, inside))
    behind = torch.where(alpha <= 0.0, coc, pull_push(coc, outside))
    colours = unmix_colours(image, alpha) if image is not None else (None, None)
    return SubjectSplit(alpha=alpha, coc_subject=subject, coc_behind=behind, subject_colour=colours[0],
                        behind_colour=colours[1])


def unmix_colours(image: Tensor, alpha: Tensor) -> tuple[Tensor, Tensor]:
    """Subject colour F and background colour B with ``alpha·F + (1 − alpha)·B = image`` on the outline.

    Priors from each side (pull-push of the image from pixels with alpha > 0.9, resp. < 0.1), then the
    smallest change to both that explains the pixel: with residual e = I − αF₀ − (1 − α)B₀,
    F = F₀ + α·e / (α² + (1 − α)²) and B = B₀ + (1 − α)·e / (α² + (1 − α)²), clipped at 0.
    """
    inside = (alpha > 0.9).to(image.dtype)
    outside = (alpha < 0.1).to(image.dtype)
    f0 = torch.where(inside > 0, image, pull_push(image, inside))
    b0 = torch.where(outside > 0, image, pull_push(image, outside))
    residual = image - alpha * f0 - (1 - alpha) * b0
    norm = alpha * alpha + (1 - alpha) * (1 - alpha)
    return (f0 + alpha * residual / norm).clamp_min(0.0), (b0 + (1 - alpha) * residual / norm).clamp_min(0.0)


def _split_weights(split: SubjectSplit, centres: np.ndarray, k: int, softness: float, image: Tensor):
    """:func:`layer_weights` of a pixel made of two parts (the subject with weight alpha, the background
    behind it with 1 − alpha): weights and coverage add, the hidden mask becomes the hidden fraction, and
    the layer's premultiplied colour takes each part's own colour. Returns (weight, share, hidden, colour)."""
    a, sub, beh = split.alpha, split.coc_subject, split.coc_behind
    c_sub, c_beh = _cumulative(sub, centres, k, softness), _cumulative(beh, centres, k, softness)
    if k > 0:
        w_sub = c_sub - _cumulative(sub, centres, k - 1, softness)
        w_beh = c_beh - _cumulative(beh, centres, k - 1, softness)
    else:
        w_sub, w_beh = c_sub, c_beh
    c_k = a * c_sub + (1 - a) * c_beh
    weight = a * w_sub + (1 - a) * w_beh
    inverse = (c_k > 0) / c_k.clamp_min(1e-12)
    share = weight * inverse
    f = split.subject_colour if split.subject_colour is not None else image
    b = split.behind_colour if split.behind_colour is not None else image
    colour = (a * w_sub * f + (1 - a) * w_beh * b) * inverse
    if k + 2 < len(centres):
        edge = float(centres[k + 2])
        hidden = a * (sub >= edge).to(a.dtype) + (1 - a) * (beh >= edge).to(a.dtype)
    else:
        hidden = torch.zeros_like(c_k)
    return weight, share, hidden, colour


# ------------------------------------------------------------------------------------------ pull-push

def pull_push(values: Tensor, known: Tensor) -> Tensor:
    """Fill unknown pixels from the known ones (Gortler et al. 1996; Kraus & Strengert 2007).

    Pull: a pyramid of known-weighted means (2x2 sums of weight and weighted value, an odd size padded with
    an empty row or column); push: from the coarsest level down, each pixel keeps its own mean in
    proportion to its (saturated) confidence and takes the coarser level's value, upsampled exactly 2x
    (bilinear), for the rest. Every step is local and the same everywhere, so a strip of the frame with a
    margin gets the same values (:func:`_layers_composite` relies on it). Known pixels (``known`` = 1) keep
    their values exactly; a pixel no known pixel reaches (an empty input) gets 0.

    Args:
        values: ``(N, C, H, W)``.
        known: ``(N, 1, H, W)`` in [0, 1].
    """
    return _pull_push_sums(values * known, known)


def _pull_push_sums(weighted: Tensor, weight: Tensor) -> Tensor:
    """:func:`pull_push` from level 0's sums (weighted value, weight): pulled to 1 px, then pushed back down."""
    pyramid = _pull(weighted, weight)
    return _push(pyramid, _top(pyramid, None))


def _pull(weighted: Tensor, weight: Tensor, levels: int | None = None) -> list[tuple[Tensor, Tensor]]:
    """Levels 0..``levels`` (default: until a side is 1 px) of 2x2 sums of (weighted value, weight)."""
    pyramid = [(weighted, weight)]
    compiled = _compiled(weighted, weight)
    while (len(pyramid) <= levels) if levels is not None else min(pyramid[-1][1].shape[-2:]) > 1:
        p, w = pyramid[-1]
        if compiled:
            from .._kernels.layers_numba import pull_level

            size = ((p.shape[-2] + 1) // 2, (p.shape[-1] + 1) // 2)
            p2, w2 = p.new_empty(p.shape[:2] + size), w.new_empty(w.shape[:2] + size)
            pull_level(p[0].numpy(), w[0, 0].numpy(), p2[0].numpy(), w2[0, 0].numpy())
            pyramid.append((p2, w2))
            continue
        pad = (0, p.shape[-1] % 2, 0, p.shape[-2] % 2)
        pyramid.append((F.avg_pool2d(F.pad(p, pad), 2) * 4, F.avg_pool2d(F.pad(w, pad), 2) * 4))
    return pyramid


def _push(pyramid: list[tuple[Tensor, Tensor]], filled: Tensor) -> Tensor:
    """``filled`` (the level above the last of ``pyramid``) pushed down through the pyramid to level 0."""
    for p, w in reversed(pyramid):
        if _compiled(p, w) and filled.dtype == p.dtype:
            from .._kernels.layers_numba import push_level

            out = torch.empty_like(p)
            push_level(p[0].numpy(), w[0, 0].numpy(), filled[0].contiguous().numpy(), out[0].numpy())
            filled = out
            continue
        up = F.interpolate(filled, scale_factor=2, mode="bilinear", align_corners=False)
        confidence = w.clamp(0.0, 1.0)
        filled = confidence * (p / w.clamp_min(1e-12)) + (1 - confidence) * up[..., :p.shape[-2], :p.shape[-1]]
    return filled


def _compiled(p: Tensor, w: Tensor) -> bool:
    """Whether the pull-push steps run compiled (``_kernels.layers_numba``): one image, float32, on the CPU."""
    return (p.device.type == "cpu" and p.dtype == torch.float32 and w.dtype == torch.float32 and p.shape[0] == 1
            and w.shape[0] == 1 and p.is_contiguous() and w.is_contiguous() and not p.requires_grad)


# ------------------------------------------------------------------------------------------- blurring

def _kernel(radius_px: float, aperture: Aperture, foreground: bool) -> np.ndarray:
    """The correlation kernel that scatters a layer with the footprint of ``radius_px``.

    ``out(q) = Σ_p in(p)·cover(q − p)`` is a correlation with cover turned 180°; a foreground layer
    (in front of focus) draws the aperture turned 180° itself, so its correlation kernel is cover as is.
    """
    dy0, dx0, cover = footprint(max(radius_px, MIN_RADIUS_PX), aperture)
    half = max(-dy0, dy0 + cover.shape[0] - 1, -dx0, dx0 + cover.shape[1] - 1)
    centred = np.zeros((2 * half + 1, 2 * half + 1))
    centred[half + dy0:half + dy0 + cover.shape[0], half + dx0:half + dx0 + cover.shape[1]] = cover
    return centred if foreground else centred[::-1, ::-1].copy()


def _blur(x: Tensor, kernel: np.ndarray) -> Tensor:
    """Correlate each channel of ``x`` (N, C, H, W) with ``kernel``, normalised at the frame border.

    By FFT: zero-padded to the linear-convolution size (rounded up to a 2-3-5-smooth length), so the
    result equals the direct zero-padded correlation up to float32 round-off (about 3e-6 here) at a cost
    that does not grow with the kernel: at 1080p a 23 x 23 footprint takes 0.2 s instead of torch.conv2d's
    1.0 s, a 3 x 3 one 0.16 s instead of 0.25 s (single-channel convs are a slow path in torch). The
    border normalisation is the kernel's mass inside the frame (:func:`_inside_mass`). A blur of
    non-negative values is non-negative: round-off below 0 is cut.
    """
    n, c, h, w = x.shape
    kh, kw = kernel.shape
    size = (_smooth_length(h + kh - 1), _smooth_length(w + kw - 1))
    weights = torch.as_tensor(np.ascontiguousarray(kernel), dtype=x.dtype, device=x.device)
    weights = weights / weights.sum()
    spectrum = torch.fft.rfft2(x.reshape(n * c, 1, h, w), s=size) * torch.fft.rfft2(weights.flip(0, 1), s=size)
    out = torch.fft.irfft2(spectrum, s=size)[..., kh // 2:kh // 2 + h, kw // 2:kw // 2 + w].clamp_min(0.0)
    return (out / _inside_mass(weights, h, w).clamp_min(1e-12)).reshape(n, c, h, w)


def _blur_sparse(x: Tensor, kernel: np.ndarray, wanted: Tensor | None = None, *,
                 visited: Tensor | None = None) -> Tensor:
    """:func:`_blur` by direct correlation over the pixels a layer covers (alpha > 0), compiled: for a small
    footprint and a layer that covers a small part of the frame (a layer near focus, its hidden part filled
    only near the occluders' edges) far cheaper than a frame-sized FFT; equal to it within round-off.

    ``wanted``: the output is needed only there (the band, (1, 1, H, W)); sources that cannot reach it
    (16-px tiles farther than the kernel from any wanted tile) are skipped, and the result elsewhere is
    not the blur. ``visited``: those tiles, when the caller has them (:func:`_source_tiles`)."""
    from .._kernels.layers_numba import correlate_sparse

    weights = torch.as_tensor(np.ascontiguousarray(kernel), dtype=x.dtype)
    weights = weights / weights.sum()
    out = torch.empty_like(x)
    mass = _inside_mass(weights, *x.shape[-2:])
    visited = _source_tiles(x, kernel, wanted) if visited is None else visited
    correlate_sparse(x[0].contiguous().numpy(), weights.numpy(), visited[0, 0].numpy() > 0, COARSE_BLOCK_PX,
                     mass.numpy(), out[0].numpy())
    return out


def _source_tiles(x: Tensor, kernel: np.ndarray, wanted: Tensor | None, pooled: Tensor | None = None) -> Tensor:
    """The 16-px tiles of ``x`` whose sources :func:`_blur_sparse` visits: all (``wanted`` None), or those
    within the kernel's reach of a tile where the output is wanted (``pooled``: :func:`_wanted_tiles` of
    ``wanted``, when the caller has it)."""
    tile = COARSE_BLOCK_PX
    if wanted is None:
        return torch.ones(1, 1, *(-(-n // tile) for n in x.shape[-2:]))
    tiles = _wanted_tiles(wanted) if pooled is None else pooled
    return _dilate(tiles, 2 * math.ceil(kernel.shape[0] / 2 / tile) + 1)


def _wanted_tiles(wanted: Tensor) -> Tensor:
    """1 on the 16-px tiles (the last ones cut by the frame) where ``wanted`` is above 0."""
    return F.max_pool2d((wanted > 0).to(wanted.dtype), COARSE_BLOCK_PX, ceil_mode=True)


def _sparse_is_cheaper(x: Tensor, kernel: np.ndarray, wanted: Tensor | None = None, *,
                       visited: Tensor | None = None) -> bool:
    """Whether :func:`_blur_sparse` beats the FFT: its work is (covered pixels it visits) x (footprint taps),
    the FFT's about (padded pixels) x log2(padded pixels), at about the same cost per step on this CPU
    (measured at 1080p: 15 % covered, 9 x 9 footprint: 62 ms against 110 ms)."""
    if not (x.device.type == "cpu" and x.dtype == torch.float32 and x.shape[0] == 1 and not x.requires_grad):
        return False
    h, w = x.shape[-2:]
    padded = (h + kernel.shape[0]) * (w + kernel.shape[1])
    covered = x[0, -1, ::4, ::4] > 0                          # every 16th pixel is enough to decide
    if wanted is not None or visited is not None:
        tile = COARSE_BLOCK_PX
        visited = (_source_tiles(x, kernel, wanted) if visited is None else visited)[0, 0] > 0
        covered = covered & visited.repeat_interleave(tile // 4, 0).repeat_interleave(tile // 4, 1)[
            :covered.shape[0], :covered.shape[1]]
    return int(covered.sum()) * 16 * int((kernel > 0).sum()) < padded * math.log2(padded)


NEAR_CELL_PX = 4


def _near_cells(known: Tensor, reach: float) -> Tensor:
    """1 within about ``reach`` px of a known pixel of a layer, 0 farther inside its hidden part: where the
    hidden background can be seen at all. The occluders hiding it have radius at most r_front, so beyond
    r_k + r_front of their edge they cover it whole and the fill there is never seen; leaving it empty keeps
    the layer's covered area small (:func:`_blur_sparse`). On a grid of ``NEAR_CELL_PX`` cells (one value
    per cell), a superset by up to 11 px."""
    cell = NEAR_CELL_PX
    h, w = known.shape[-2:]
    coarse = F.max_pool2d(F.pad((known > 0).to(known.dtype), (0, (-w) % cell, 0, (-h) % cell)), cell)
    return _dilate(coarse, 2 * (math.ceil(reach / cell) + 1) + 1)


def _cells_to_pixels(cells: Tensor, h: int, w: int) -> Tensor:
    """A grid of ``NEAR_CELL_PX`` cells back to h x w pixels (each cell's value on its pixels)."""
    cell = NEAR_CELL_PX
    return cells.repeat_interleave(cell, dim=-2).repeat_interleave(cell, dim=-1)[..., :h, :w]


def _inside_mass(weights: Tensor, h: int, w: int) -> Tensor:
    """The kernel's mass inside the frame for each output pixel of an h x w correlation: Σ_uv k[u, v] over
    the taps that land inside, = R·K·Cᵀ with R[i, u] = [0 <= i + u − kh//2 < h] (and C likewise for columns),
    two small matrix products instead of blurring a frame of ones."""
    kh, kw = weights.shape

    def inside(n: int, k: int) -> Tensor:
        pos = torch.arange(n, device=weights.device)[:, None] + torch.arange(k, device=weights.device)[None] - k // 2
        return ((pos >= 0) & (pos < n)).to(weights.dtype)

    return inside(h, kh) @ weights @ inside(w, kw).T


def _smooth_length(n: int) -> int:
    """The smallest m >= n whose only prime factors are 2, 3 and 5 (fast FFT lengths)."""
    while True:
        m = n
        for p in (2, 3, 5):
            while m % p == 0:
                m //= p
        if m == 1:
            return n
        n += 1


def _lowres_factor(radius_px: float, max_radius_lowres_px: float) -> int:
    s = 1
    while radius_px / (2 * s) >= max_radius_lowres_px:
        s *= 2
    return s


# ------------------------------------------------------------------------------------ soft depth edges

def _range(coc: Tensor, size: int) -> tuple[Tensor, Tensor]:
    """Max and min of ``coc`` over the square window of side ``size`` (odd) around each pixel. Wide windows
    on the CPU run compiled (``_kernels.band_numba.window_range``, equal to the max filters, tested)."""
    if _compiled_window(coc, size):
        return _window_range(coc, size, True, True)
    return _dilate(coc, size), -_dilate(-coc, size)


def _compiled_window(x: Tensor, size: int) -> bool:
    return size >= 3 and x.device.type == "cpu" and x.dtype == torch.float32 and not x.requires_grad


def _window_range(x: Tensor, size: int, want_hi: bool, want_lo: bool) -> tuple[Tensor, Tensor]:
    """``_kernels.band_numba.window_range`` of each (H, W) plane of ``x``."""
    from .._kernels.band_numba import window_range

    planes = [window_range(plane.contiguous().numpy(), size, want_hi, want_lo)
              for plane in x.reshape(-1, *x.shape[-2:])]
    return tuple(torch.from_numpy(planes[0][i] if len(planes) == 1 else np.stack([p[i] for p in planes]))
                 .reshape(x.shape) for i in (0, 1))


def soft_edge_width(coc: Tensor, *, jump_px: float = 2.0, min_pixels: int = 100,
                    local_range: tuple[Tensor, Tensor] | None = None) -> float:
    """The width (px) over which the map's depth jumps spread: about 2 for an exact map, 4·f and more for
    one upsampled f times or estimated by a network.

    Across a jump of height Δ spread over W pixels, the 3x3 range is about 2Δ/W and a window wider than W
    sees all of Δ, so W ≈ 2·range(window)/range(3x3), taken as the median over the pixels whose 3x3 range
    exceeds ``jump_px``. The window grows (33, 65, 129 px) until it is at least 2.5 W. 0 when fewer than
    ``min_pixels`` pixels are on a jump (nothing to measure). ``local_range``: the map's 3x3 max and min,
    when the caller has them already.

    Example:
        >>> step = torch.zeros(1, 1, 64, 64); step[..., 32:] = 20.0
        >>> soft_edge_width(step)
        2.0
    """
    hi3, lo3 = _range(coc, 3) if local_range is None else local_range
    r3 = hi3 - lo3
    on_jump = r3 > jump_px
    if int(on_jump.sum()) < min_pixels:
        return 0.0
    width = 0.0
    for size in (33, 65, 129):
        hi, lo = _range(coc, size)
        width = float((2 * (hi - lo)[on_jump] / r3[on_jump]).median())
        if width * 2.5 <= size:
            break
    return width


def sharpen_soft_edges(coc: Tensor, half_width_px: float, *, jump_px: float = 2.0,
                       local_range: tuple[Tensor, Tensor] | None = None) -> Tensor:
    """Soft depth jumps made steps again: each pixel on a ramp takes the nearer or the farther side's value.

    With the window of side 2·⌈half_width⌉ + 1 around a pixel spanning lo..hi, a pixel is sloped when the
    span exceeds ``jump_px`` and its 3x3 range is above 0 (not a plateau) and at most span/2 (not itself a
    step). A ramp's middle is a sloped pixel near the midpoint whose span ends within the window: the
    half-size window already sees more than 1/1.6 of it, where a slant's range would halve. Sloped pixels
    within the window of a ramp's middle become hi if they are above the midpoint, lo if not. A ramp made
    by blurring or upsampling a step is symmetric about the step, so the midpoint falls where the step
    was. Plateaus, exact steps and slants keep their values. ``local_range``: as in :func:`soft_edge_width`.

    Example:
        >>> ramp = torch.linspace(0, 18, 10).repeat(30, 1)                 # a jump of 18 spread over 10 px
        >>> coc = torch.cat([torch.zeros(30, 15), ramp, torch.full((30, 15), 18.0)], 1)[None, None]
        >>> sharpen_soft_edges(coc, 6)[0, 0, 15, 13:27].tolist()
        [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 18.0, 18.0, 18.0, 18.0, 18.0, 18.0, 18.0]
    """
    size = 2 * math.ceil(half_width_px) + 1
    hi, lo = _range(coc, size)
    hi_in, lo_in = _range(coc, 2 * (size // 4) + 1)
    hi3, lo3 = _range(coc, 3) if local_range is None else local_range
    span, slope = hi - lo, hi3 - lo3
    sloped = (span > jump_px) & (slope > 0) & (slope <= 0.5 * span)
    middle = sloped & ((coc - 0.5 * (hi + lo)).abs() <= 0.25 * span) & (span <= SLANT_RATIO * (hi_in - lo_in))
    half = size // 2    # a window cut by the frame sees less of a slant: no middles that close to the border
    middle[..., :half, :] = middle[..., -half:, :] = middle[..., :, :half] = middle[..., :, -half:] = False
    ramp = sloped & (_dilate(middle.to(coc.dtype), size) > 0)
    return torch.where(ramp, torch.where(coc > 0.5 * (hi + lo), hi, lo), coc)


# ---------------------------------------------------------------------------------------------- bands

def discontinuity_mask(coc_px: Tensor, *, jump_px: float = 2.0, feather_px: int = 4,
                       spacing: float | None = None) -> Tensor:
    """Where the layered render replaces the scatter: within reach of a jump in blur radius, feathered inwards.

    A pixel is a jump when the radius varies by more than ``jump_px`` inside the 5x5 window around it
    (a sharp step, or a soft, estimated one spread over a few pixels); smooth slants do not count. A jump's
    reach is the window's largest |r| + 2 px: the farthest a pixel beside the jump scatters, so the farthest
    the scatter can be wrong. The band is every pixel within a jump's reach (Euclidean, to 3 %: the 5x5
    chamfer distance, :mod:`lensblur.render._kernels.band_numba`) and no more; it is feathered *inwards*
    (eroded by ``feather_px``, then a box of the same half-width), so outside the reach the render is the
    scatter's, exactly. (Square windows grown by power-of-two reach classes and feathered outwards were up
    to twice as wide; there the layers' quantised radius cost 0.5 dB off the band on the 90-case set.)

    With ``spacing`` (the layers' spacing as a fraction of the radius), a jump counts in proportion to how
    much larger it is than the layers' own radius steps there: (Δr − jump_px) / (spacing·|r| + jump_px),
    capped at 1 (binned to quarters, each bin weighing as its strongest jump). A small jump between two
    large blurs (a slanted floor meeting a wall) is rendered as well by the scatter, and layers would only
    add their radius quantisation to it.

    Args:
        coc_px: ``(B, 1, H, W)`` signed blur radius.

    Returns:
        ``(B, 1, H, W)`` in [0, 1].
    """
    from .._kernels.band_numba import jump_reach

    radius = coc_px.detach().to("cpu", torch.float32).numpy()
    reach, strength = np.empty_like(radius), np.empty_like(radius)
    for b in range(radius.shape[0]):
        jump_reach(radius[b, 0], float(jump_px), -1.0 if spacing is None else float(spacing), reach[b, 0],
                   strength[b, 0])
    return reach_band(torch.from_numpy(reach).to(coc_px), torch.from_numpy(strength).to(coc_px),
                      feather_px=feather_px)


def reach_band(reach: Tensor, strength: Tensor | None = None, *, feather_px: int = 4) -> Tensor:
    """Every pixel within ``reach (B, 1, H, W)`` px of a seed (a pixel with reach > 0), weighted by the
    seed's ``strength`` in [0, 1] (binned to quarters, each bin as strong as its strongest seed), then
    feathered inwards by ``feather_px``: :func:`discontinuity_mask` without the jump detection. Compiled
    (``_kernels.band_numba``), on the CPU whatever the tensors' device."""
    from .._kernels.band_numba import feather_inwards, seed_planes, sweep_padded, weigh_planes

    reach_np = reach.detach().to("cpu", torch.float32).numpy()
    strength_np = (np.ones_like(reach_np) if strength is None
                   else strength.detach().to("cpu", torch.float32).numpy())
    band = np.zeros_like(reach_np)
    for b in range(reach_np.shape[0]):
        planes, weights = seed_planes(reach_np[b, 0], strength_np[b, 0])
        if len(weights) == 0:
            continue
        weigh_planes(sweep_padded(planes), weights, band[b, 0])
        if feather_px > 0:
            band[b, 0] = feather_inwards(band[b, 0], feather_px)
    return torch.from_numpy(band).to(reach)


def _dilate(mask: Tensor, size: int) -> Tensor:
    """Square max filter of side ``size`` (odd) of a (B, C, H, W) tensor; outside the frame counts as −inf.
    Compiled on the CPU (van Herk's O(1) per pixel), else O(log size) passes of torch (:func:`_window_max`)."""
    if _compiled_window(mask, size) and min(mask.shape[-2:]) > 0:
        return _window_range(mask, size, True, False)[0]
    return _max_filter(mask, size)


def _max_filter(mask: Tensor, size: int) -> Tensor:
    """:func:`_dilate` in torch: separable running maxima."""
    return _window_max(_window_max(mask, size, -1), size, -2)


def _window_max(x: Tensor, size: int, dim: int) -> Tensor:
    """Max over the centred window of ``size`` (odd) along ``dim``, in O(log size) passes: running maxima
    over 1, 2, 4, ... p samples (p the largest power of two <= size), then the max of the two p-windows
    that cover the centred one. Equal to a max pool (tested); ``F.max_pool2d`` costs O(size) per pixel."""
    half = size // 2
    if half == 0:
        return x
    n = x.shape[dim]
    pad = [0, 0] * (x.dim() - 1 - dim % x.dim()) + [half, half]
    padded = F.pad(x, pad, value=-math.inf)
    run, width = padded, 1
    while 2 * width <= size:        # run[j] = max(padded[j .. j + 2·width − 1])
        run = torch.maximum(run.narrow(dim, 0, run.shape[dim] - width), run.narrow(dim, width, run.shape[dim] - width))
        width *= 2
    # window [i, i + size − 1] of the padded axis = the p-window at i and the p-window ending at i + size − 1
    return torch.maximum(run.narrow(dim, 0, n), run.narrow(dim, size - width, n))


# --------------------------------------------------------------------------------------- the renderer

def _layers_composite(encoded: Tensor, coc: Tensor, aperture: Aperture, options: LayeredOptions,
                      progress: bool, split: SubjectSplit | None = None, band: Tensor | None = None) -> Tensor:
    """The layered composite of one image (steps 1-5), in the encoded (γ) domain, in strips of rows.

    A frame taller than ``options.tile_rows`` (default: rows for about 8 MP with margins) is rendered in
    strips, each from its rows plus a margin wide enough for every step: the blur (the largest radius), the
    push of the hidden-layer fill (2 coarse blocks) and the low-resolution upsampling. The fill is the one
    step that sees the whole frame; it is split at a 16-px block level: each layer's block sums are pulled
    strip by strip first, the pyramid above the blocks is filled once for the frame, and each strip pushes
    it down through its own finer levels. Strips start on block boundaries, so every level lines up and the
    strips equal the whole frame (tested). Strips with no band pixel (``band``) are not rendered.
    """
    r_min, r_max = float(coc.min()), float(coc.max())
    centres = layer_centres(r_min, r_max, options.spacing, options.min_step_px)
    height, width = coc.shape[-2:]
    scales = [_lowres_factor(abs(c), options.max_radius_lowres_px) for c in centres]
    block = max(COARSE_BLOCK_PX, max(scales))
    margin = block * math.ceil((max(abs(r_min), abs(r_max)) + 2 * block + max(scales) + 2) / block)
    rows = options.tile_rows or max(4 * block, STRIP_PIXELS // width - 2 * margin)
    rows = block * max(1, rows // block)
    strips = [(y0, min(y0 + rows, height)) for y0 in range(0, height, rows)]
    if len(strips) == 1 or min(height, width) < 4 * block:
        strips, margin = [(0, height)], 0

    ranges: dict = {}     # per strip and tile size: the radius range of each tile (the CPU's layer construction)

    def layer(k: int, a: int, b: int):
        return _layer_rows(encoded, coc, centres, k, options.softness, split, scales[k], a, b, ranges)

    def block_level(k: int, a: int, b: int):
        if _compiled_layers(encoded, split):
            return _block_sums_compiled(encoded, coc, centres, k, options.softness, scales[k], a, b, block, ranges)
        got = layer(k, a, b)
        if got is None:
            return None
        premult, known = got
        p, w = _pull_layer(premult, known, int(math.log2(block // scales[k])))[-1]
        return p, w, bool((known < 1).any())

    coarse = _coarse_fills(block_level, len(centres), strips, block, height) if len(strips) > 1 else None
    bar = _progress_bar(len(centres) * len(strips), progress, "layers")
    out = torch.zeros_like(encoded)
    for y0, y1 in strips:
        if band is not None and not bool((band[..., y0:y1, :] > 0).any()):
            bar.update(len(centres))
            continue
        a, b = max(0, y0 - margin), min(height, y1 + margin)
        wanted = None           # the band on the strip's own rows: its margin's output is not kept
        if band is not None:
            wanted = torch.zeros_like(band[..., a:b, :])
            wanted[..., y0 - a:y1 - a, :] = band[..., y0:y1, :]
        rows_k = None                   # each layer's own rows: its margin is as wide as its own reach
        if margin:
            rows_k = [(max(a, y0 - m), min(b, y1 + m)) for m in _layer_margins(centres, scales, block)]
        composite = _composite_rows(layer, centres, scales, aperture, a, b, width, coarse, bar, wanted, rows_k, block)
        out[..., y0:y1, :] = composite[..., y0 - a:y1 - a, :]
    bar.close()
    return out


def _layer_rows(encoded: Tensor, coc: Tensor, centres: np.ndarray, k: int, softness: float,
                split: SubjectSplit | None, s: int, a: int, b: int,
                ranges: dict | None = None) -> tuple[Tensor, Tensor] | None:
    """Layer k on rows a..b at 1/s resolution: premultiplied colour + alpha, and where it is known (1) or
    hidden behind a jump (0). None when it has neither weight nor hidden pixels there (it adds nothing).
    On the CPU without a matte, one compiled pass (:func:`_layer_rows_compiled`, equal to these steps;
    ``ranges`` keeps its per-strip tile ranges between the layers)."""
    if _compiled_layers(encoded, split):
        return _layer_rows_compiled(encoded, coc, centres, k, softness, s, a, b, {} if ranges is None else ranges)
    if split is None:
        weight, share, hidden = layer_weights(coc[..., a:b, :], centres, k, softness)
        colour = encoded[..., a:b, :] * share
    else:
        weight, share, hidden, colour = _split_weights(_split_rows(split, a, b), centres, k, softness,
                                                       encoded[..., a:b, :])
    hidden = hidden.to(coc.dtype)
    if not bool((weight > 0).any()) and not bool((hidden > 0).any()):
        return None
    premult = torch.cat([colour, share], dim=1)
    known = 1.0 - hidden
    if s > 1:
        premult = _area_down(premult * known, s)
        known = _area_down(known, s)
        premult = premult / known.clamp_min(1e-12) * (known > 0)
    return premult, known


def _compiled_layers(encoded: Tensor, split: SubjectSplit | None) -> bool:
    """Whether layers are built by the compiled passes: float32 on the CPU, no matte (a matte's split layers
    take the torch steps)."""
    return split is None and encoded.device.type == "cpu" and encoded.dtype == torch.float32


def _layer_rows_compiled(encoded: Tensor, coc: Tensor, centres: np.ndarray, k: int, softness: float, s: int,
                         a: int, b: int, ranges: dict | None = None) -> tuple[Tensor, Tensor] | None:
    """:func:`_layer_rows` without a matte in one compiled pass (``_kernels.layers_numba``)."""
    from .._kernels.layers_numba import layer_down

    image, radius, params, (lo, hi), tile = _compiled_inputs(encoded, coc, centres, k, softness, s, a, b,
                                                             max(COARSE_BLOCK_PX, s), ranges)
    h, w = -(-(b - a) // s), -(-radius.shape[1] // s)
    premult = np.empty((4, h, w), np.float32)
    known = np.empty((h, w), np.float32)
    weighted, hidden = layer_down(image, radius, s, *params, lo, hi, tile, premult, known)
    if not weighted and not hidden:
        return None
    return torch.from_numpy(premult)[None], torch.from_numpy(known)[None, None]


def _block_sums_compiled(encoded: Tensor, coc: Tensor, centres: np.ndarray, k: int, softness: float, s: int,
                         a: int, b: int, block: int, ranges: dict) -> tuple[Tensor, Tensor, bool] | None:
    """The coarse fill's input for layer k on rows a..b: its pull sums at the ``block`` level (as
    :func:`_pull_layer` of :func:`_layer_rows` would give them) and whether it has hidden pixels, in one
    compiled pass that skips the tiles where the layer is empty; None when it adds nothing."""
    from .._kernels.layers_numba import block_sums

    image, radius, params, (lo, hi), _ = _compiled_inputs(encoded, coc, centres, k, softness, s, a, b, block,
                                                          ranges)
    cells_h, cells_w = -(-(b - a) // s), -(-radius.shape[1] // s)
    p = np.empty((4,) + lo.shape, np.float32)
    w = np.empty(lo.shape, np.float32)
    weighted, hidden = block_sums(image, radius, s, *params, lo, hi, block, cells_h, cells_w, p, w)
    if not weighted and not hidden:
        return None
    return torch.from_numpy(p)[None], torch.from_numpy(w)[None, None], bool(hidden)


def _compiled_inputs(encoded: Tensor, coc: Tensor, centres: np.ndarray, k: int, softness: float, s: int, a: int,
                     b: int, tile: int, ranges: dict | None):
    """What the compiled layer passes read: the rows' photo and radii, layer k's ramp parameters
    (``_cumulative``'s midpoint and width for C_k and C_{k-1}, width 0 = "all 1", < 0 = "all 0", and the radius
    from which a pixel is hidden) and the rows' per-tile radius ranges (kept in ``ranges`` for the next layer)."""
    from .._kernels.layers_numba import tile_ranges

    def ramp(j: int) -> tuple[float, float]:
        if j >= len(centres) - 1:
            return 0.0, 0.0
        low, high = float(centres[j]), float(centres[j + 1])
        return 0.5 * (low + high), max(softness * (high - low), 1e-6)

    mid_prev, width_prev = ramp(k - 1) if k > 0 else (0.0, -1.0)
    hidden_from = float(np.float32(centres[k + 2])) if k + 2 < len(centres) else math.inf   # torch compares in float32
    radius = coc[0, 0, a:b].numpy()
    ranges = {} if ranges is None else ranges
    if (a, b, tile) not in ranges:        # every layer of a strip reads them: computed once per strip
        ranges[(a, b, tile)] = tile_ranges(radius, tile)
    return encoded[0, :, a:b].numpy(), radius, (*ramp(k), mid_prev, width_prev, hidden_from), ranges[(a, b, tile)], tile


def _split_rows(split: SubjectSplit, a: int, b: int) -> SubjectSplit:
    def rows(t: Tensor | None) -> Tensor | None:
        return None if t is None else t[..., a:b, :]

    return SubjectSplit(alpha=rows(split.alpha), coc_subject=rows(split.coc_subject),
                        coc_behind=rows(split.coc_behind), subject_colour=rows(split.subject_colour),
                        behind_colour=rows(split.behind_colour))


def _layer_margins(centres: np.ndarray, scales: list[int], block: int) -> list[int]:
    """The rows each layer needs beyond a strip's own, block-aligned: its blur (|r|), the fill's push (2
    blocks), its upsampling (s) and, for a full-resolution layer filled only near its known pixels, that
    reach (|r| + the radius of the layers that can hide it, :func:`_near_cells`, plus a cell's slack)."""
    margins = []
    for k, radius in enumerate(centres):
        reach = abs(float(radius)) + 2 * block + scales[k] + 2
        if scales[k] == 1 and abs(radius) <= RIM_MAX_RADIUS_PX:
            in_front = max((abs(float(c)) for c in centres[k + 2:]), default=0.0)
            reach = max(reach, 2 * abs(float(radius)) + in_front + 2 + 3 * NEAR_CELL_PX + scales[k] + 2)
        margins.append(block * math.ceil(reach / block))
    return margins


def _coarse_fills(block_level, count: int, strips: list[tuple[int, int]], block: int, height: int) -> dict:
    """For each layer with hidden pixels: the pull-push fill at the block level (1/``block`` of the frame),
    from block sums pulled strip by strip (block-aligned strips need no margin for this); ``block_level(k,
    a, b)`` gives layer k's sums on rows a..b and whether it has hidden pixels there, or None."""
    sums: dict[int, list] = {}
    hidden: set[int] = set()
    for a, b in strips:
        for k in range(count):
            got = block_level(k, a, b)
            if got is None:
                continue
            p, w, has_hidden = got
            if has_hidden:
                hidden.add(k)
            sums.setdefault(k, []).append((a // block, p, w))
    fills = {}
    for k in sorted(hidden):
        parts = sums[k]
        rows = math.ceil(height / block)
        p = parts[0][1].new_zeros(parts[0][1].shape[:2] + (rows, parts[0][1].shape[-1]))
        w = parts[0][2].new_zeros(parts[0][2].shape[:2] + (rows, parts[0][2].shape[-1]))
        for row, pk, wk in parts:
            p[..., row:row + pk.shape[-2], :] = pk
            w[..., row:row + wk.shape[-2], :] = wk
        fills[k] = _pull_push_sums(p, w)
    return fills


def _composite_rows(layer, centres: np.ndarray, scales: list[int], aperture: Aperture, a: int, b: int,
                    width: int, coarse: dict | None, bar, band_rows: Tensor | None = None,
                    rows_k: list[tuple[int, int]] | None = None, block: int = COARSE_BLOCK_PX) -> Tensor:
    """Steps 3-5 on rows a..b: fill, blur and composite every layer far to near; runs of layers of one
    resolution are composited at that resolution and upsampled once ("over" is associative). ``coarse``:
    the frame's block-level fills (:func:`_coarse_fills`) or None (the rows are the whole frame). With
    ``band_rows`` (the band on these rows) the result is needed only where it is above 0: full-resolution
    layers skip the sources that cannot reach it, and elsewhere the result is not the composite. With
    ``rows_k``, layer k is built on its own rows (block-aligned, within a..b) and composited there: the
    result is then right only on the rows every layer's margin covers (a strip's own)."""
    total = None                                # premultiplied colour + coverage composited so far
    group: list = [scales[0], None]             # [s, premultiplied colour + coverage] of the current run
    # the largest radius of the layers that can hide layer k (k + 2 and nearer)
    in_front = [max((abs(float(c)) for c in centres[k + 2:]), default=0.0) for k in range(len(centres))]
    band_tiles = None if band_rows is None else _wanted_tiles(band_rows)

    def flush() -> None:
        nonlocal total
        s, run = group
        if run is None:
            return
        if total is not None and s > 1 and _compiled(total, run) and run.is_contiguous():
            from .._kernels.layers_numba import over_upsampled

            over_upsampled(total[0].numpy(), run[0].numpy(), s)     # the upsampling fused with "over"
        else:
            if s > 1:
                run = F.interpolate(run, scale_factor=s, mode="bilinear", align_corners=False)[..., :b - a, :width]
            total = run if total is None else _over(total, run)
        group[1] = None

    for k, radius in enumerate(centres):
        s = scales[k]
        if s != group[0]:
            flush()
            group[0] = s
        a_k, b_k = (a, b) if rows_k is None else rows_k[k]
        got = layer(k, a_k, b_k)
        bar.update(1)
        if got is None:
            continue
        premult, known = got
        if bool((known < 1).any()):
            near = None      # on its grid of cells
            if s == 1 and abs(radius) <= RIM_MAX_RADIUS_PX:
                near = _near_cells(known, abs(radius) + in_front[k] + 2.0)
            fill = None if coarse is None else (coarse[k][..., a_k // block:, :], block // s)
            premult = _fill_hidden(premult, known, fill, near)
        if abs(radius) / s >= MIN_RADIUS_PX * 0.999 and radius != 0:
            kernel = _kernel(abs(radius) / s, aperture, foreground=radius > 0)
            visited = None        # the tiles whose sources can reach the band on the layer's rows
            if s == 1 and band_tiles is not None:
                top = (a_k - a) // COARSE_BLOCK_PX
                pooled = band_tiles[..., top:top + -(-(b_k - a_k) // COARSE_BLOCK_PX), :]
                visited = _source_tiles(premult, kernel, band_rows, pooled)
            if _sparse_is_cheaper(premult, kernel, visited=visited):
                premult = _blur_sparse(premult, kernel, visited=visited)
            else:
                premult = _blur(premult, kernel)
        top, n = (a_k - a) // s, premult.shape[-2]       # its rows in the run's (a_k − a is a multiple of s)
        if group[1] is None:     # the layer's own buffer (fresh from the steps above) starts the run
            premult[:, -1:].clamp_(0.0, 1.0)
            if n != -(-(b - a) // s):
                placed = premult.new_zeros(premult.shape[:2] + (-(-(b - a) // s), premult.shape[-1]))
                placed[..., top:top + n, :] = premult
                premult = placed
            group[1] = premult
        else:
            below = group[1][..., top:top + n, :]
            result = _over(below, premult)
            if result is not below:
                below.copy_(result)
    flush()
    if total is None:
        raise AssertionError("no layer has any weight")   # every pixel's weights sum to 1
    return total[:, :-1] / total[:, -1:].clamp_min(1e-6)


def _over(below: Tensor, above: Tensor) -> Tensor:
    """``above`` (premultiplied colour + alpha, the alpha clamped to [0, 1]) composited over ``below`` with
    "over": colour = above + (1 − α)·below, coverage = α + (1 − α)·below's. In place on the CPU (compiled);
    ``below`` is the compositor's own buffer."""
    compiled = (above.device.type == "cpu" and above.dtype == below.dtype == torch.float32 and above.shape[0] == 1
                and above.is_contiguous() and below.stride(-1) == 1 and below.shape == above.shape
                and not (above.requires_grad or below.requires_grad))     # ``below``: the run's buffer or its rows
    if compiled:
        from .._kernels.layers_numba import over

        over(below[0].numpy(), above[0].numpy())
        return below
    alpha = above[:, -1:].clamp(0.0, 1.0)
    return torch.cat([above[:, :-1] + (1 - alpha) * below[:, :-1], alpha + (1 - alpha) * below[:, -1:]], dim=1)


def _fill_hidden(premult: Tensor, known: Tensor, coarse: tuple[Tensor, int] | None, near: Tensor | None) -> Tensor:
    """A layer with its hidden part (known < 1) filled by pull-push from its known part, colour held at or
    below white (:func:`_no_lights`), the fill kept only where ``near`` (None: everywhere; else on the grid of
    ``NEAR_CELL_PX`` cells, :func:`_near_cells`). With ``coarse``
    (a strip's share of the frame's fill at the block level and the block's size in this layer's pixels)
    the pyramid stops at the blocks and is pushed down from there. On the CPU the first pull level and the
    last push level with the mixing run compiled (``_kernels.layers_numba.pull_first``, ``finish_fill``;
    equal to these steps, tested), and ``premult``, the caller's own buffer, is filled in place."""
    levels = None if coarse is None else int(math.log2(coarse[1]))
    if _compiled_pull(premult, known, levels):
        from .._kernels.layers_numba import finish_fill

        pyramid = _pull_layer(premult, known, levels)[1:]       # levels 1 and up
        top = _top(pyramid, coarse)
        level1 = _push(pyramid, top)
        mask = near if near is not None else known.new_zeros(1, 1, 1, 1)
        finish_fill(premult[0].numpy(), known[0, 0].numpy(), level1[0].contiguous().numpy(),
                    mask[0, 0].contiguous().numpy(), near is not None, NEAR_CELL_PX)
        return premult
    source = _no_lights(premult)
    pyramid = _pull(source * known, known, levels)
    top = _top(pyramid, coarse)
    filled = _push(pyramid, top)
    if near is not None:
        filled = filled * _cells_to_pixels(near, *filled.shape[-2:])
    return known * premult + (1 - known) * filled


def _compiled_pull(premult: Tensor, known: Tensor, levels: int | None) -> bool:
    return (_compiled(premult, known) and premult.is_contiguous() and min(premult.shape[-2:]) > 1
            and (levels is None or levels >= 1))


def _pull_layer(premult: Tensor, known: Tensor, levels: int | None = None) -> list[tuple[Tensor, Tensor]]:
    """The fill's pull pyramid of a layer (:func:`_pull` of its light-free source times known, and known);
    on the CPU the first level straight from the layer (``_kernels.layers_numba.pull_first``), level 0
    left out (None) since nothing reads it there."""
    if not _compiled_pull(premult, known, levels):
        return _pull(_no_lights(premult) * known, known, levels)
    from .._kernels.layers_numba import pull_first

    size = ((premult.shape[-2] + 1) // 2, (premult.shape[-1] + 1) // 2)
    p1, w1 = premult.new_empty(premult.shape[:2] + size), known.new_empty(known.shape[:2] + size)
    pull_first(premult[0].numpy(), known[0, 0].numpy(), p1[0].numpy(), w1[0, 0].numpy())
    return [(None, None)] + _pull(p1, w1, None if levels is None else levels - 1)


def _top(pyramid: list[tuple[Tensor, Tensor]], coarse: tuple[Tensor, int] | None) -> Tensor:
    """The fill at the pyramid's last level, which it pops: its own means (the whole frame's pyramid) or the
    frame's fill at the block level cut to this strip (``coarse``)."""
    p, w = pyramid.pop()
    if coarse is None:
        return p / w.clamp_min(1e-12) * (w > 0)
    return coarse[0][..., :p.shape[-2], :]


def _no_lights(premult: Tensor) -> Tensor:
    """Premultiplied colour + alpha with the colour held at or below white, the source of the hidden fill.

    The hidden part of a layer is a surface continuing behind the occluder; a light brighter than white
    (reconstructed highlights) next to the occlusion edge must not be smeared into it, or its energy
    would multiply over the whole hidden region.
    """
    alpha = premult[:, -1:]
    return torch.cat([torch.minimum(premult[:, :-1], alpha), alpha], dim=1)


def _area_down(x: Tensor, s: int) -> Tensor:
    h, w = x.shape[-2:]
    ph, pw = (-h) % s, (-w) % s
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph), mode="replicate")
    return F.avg_pool2d(x, s)


def layered_blur(
    image: Tensor,
    coc_px: Tensor,
    *,
    aperture: Aperture = CIRCLE,
    gamma: float | None = None,
    backend: str = "auto",
    return_dilated: bool = False,
    progress: bool = False,
    options: LayeredOptions = LayeredOptions(),
    matte: Tensor | None = None,
) -> RenderResult:
    """Occlusion-aware layered defocus (see the module docstring): the scatter's arguments and result.

    Args:
        image: ``(B, 3, H, W)`` linear RGB, >= 0.
        coc_px: ``(B, 1, H, W)`` signed blur radius in px (positive = nearer than focus).
        aperture: aperture shape (circle, blades, custom kernel image); foreground layers turn it 180°.
        gamma: as in :func:`scatter_blur`.
        backend: the scatter's backend for the off-band part (the layers run in torch on the image's device).
        return_dilated: also return BokehMe's dilated defocus map (from the scatter).
        progress: show a progress bar.
        options: :class:`LayeredOptions`.
        matte: optional subject matte ``(B or 1, 1, h, w)`` in [0, 1] (1 = subject; an iPhone portrait
            matte, a segmentation), any resolution of the photo's aspect ratio: upsampled with the photo as
            guide (:func:`matte_to_photo`), it splits each pixel on the subject's outline between the
            subject's layer and the background's (:func:`subject_split`), so hair is not cut by the depth
            map's blurred edge.

    Returns:
        RenderResult; ``extras["band"]`` is the share of pixels rendered by layers.

    Example:
        >>> img = torch.rand(1, 3, 16, 16)
        >>> out = layered_blur(img, torch.zeros(1, 1, 16, 16)).image
        >>> bool(torch.allclose(out, img, atol=1e-6))
        True
    """
    check_image(image)
    check_coc(coc_px, like=image)
    _check_gamma(gamma)
    coc = limit_radius(coc_px.to(image.device, image.dtype))
    coc, soft_edges = _sharpened(coc, options)
    mattes = matte_to_photo(matte, image) if matte is not None else None
    with torch.no_grad():
        values = to_working(image, gamma)
        splits = [None] * image.shape[0]
        if mattes is not None:
            splits = [subject_split(coc[b:b + 1], mattes[b:b + 1] if mattes.shape[0] > 1 else mattes,
                                    image=values[b:b + 1]) for b in range(image.shape[0])]
    base = band = None
    if options.keep_scatter_off_band:
        base = scatter_encoded(values, coc, aperture=aperture, backend=backend, return_dilated=return_dilated,
                               progress=progress)
        band = discontinuity_mask(coc, jump_px=options.jump_px, feather_px=options.feather_px,
                                  spacing=options.spacing)
        for b, split in enumerate(splits):   # the matte's outline is a jump, wherever the depth puts it
            if split is not None:
                band[b:b + 1] = torch.maximum(band[b:b + 1], _outline_band(split, options))
        if not bool((band > 0).any()):
            return RenderResult(image=from_working(base.image, gamma), coc_px=coc_px,
                                dilated_coc_px=base.dilated_coc_px,
                                extras=dict(base.extras, gamma=gamma, band=0.0, matte=mattes is not None,
                                            soft_edge_px=soft_edges))
    with torch.no_grad():
        out = torch.empty_like(values)
        for b in range(image.shape[0]):
            out[b:b + 1] = _layers_composite(values[b:b + 1], coc[b:b + 1], aperture, options, progress,
                                             split=splits[b], band=None if band is None else band[b:b + 1])
        if band is not None:      # band·layers + (1 − band)·scatter, in place: the scatter's exactly off the band
            out = out.sub_(base.image).mul_(band).add_(base.image)
        out = from_working(out, gamma)
    share = float((band > 0).float().mean()) if band is not None else 1.0
    extras = {"backend": "torch", "aperture": aperture.name, "gamma": gamma, "band": share,
              "matte": mattes is not None, "soft_edge_px": soft_edges}
    return RenderResult(image=out, coc_px=coc_px, dilated_coc_px=base.dilated_coc_px if base else None,
                        extras=extras)


def _outline_band(split: SubjectSplit, options: LayeredOptions) -> Tensor:
    """The band of a matte's outline: every pixel the matte calls partly subject (hair) is a jump where the
    subject's and the background's radii differ, reaching as far as the larger of the two scatters."""
    soft = (split.alpha > 0.02) & (split.alpha < 0.98)
    hard = torch.where(split.alpha > 0.5, split.coc_subject, split.coc_behind)
    big, small = _range(hard, 5)
    seeds = (soft | ((big - small) > options.jump_px)) & ((split.coc_subject - split.coc_behind).abs() > options.jump_px)
    reach = torch.maximum(split.coc_subject.abs(), split.coc_behind.abs()) + 2.0
    return reach_band(torch.where(seeds, reach, torch.zeros_like(reach)), feather_px=options.feather_px)


def _sharpened(coc: Tensor, options: LayeredOptions) -> tuple[Tensor, list[float]]:
    """``coc`` with soft depth edges made steps (per image), and the half-width used for each (0 = none)."""
    out, used = [], []
    for b in range(coc.shape[0]):
        one = coc[b:b + 1]
        width = options.soft_edge_px
        local = _range(one, 3) if width is None or width > 0 else None     # both steps read the 3x3 range
        if width is None:
            measured = soft_edge_width(one, jump_px=options.jump_px, local_range=local)
            width = min(measured, MAX_SOFT_EDGE_PX) if measured >= SOFT_EDGE_MIN_PX else 0.0
        out.append(sharpen_soft_edges(one, width, jump_px=options.jump_px, local_range=local) if width > 0 else one)
        used.append(round(float(width), 2))
    return torch.cat(out) if coc.shape[0] > 1 else out[0], used


def matte_to_photo(matte: Tensor, image: Tensor) -> Tensor:
    """``matte (B or 1, 1, h, w)`` in [0, 1] at the size of ``image (B, 3, H, W)``: bilinear, then a colour
    guided filter (He et al. 2010) with the photo as guide so the outline follows the photo's edges (radius
    twice the upsampling factor, ε 1e-3 on display values). Phone mattes are a fraction of the photo's
    size; a matte of another aspect ratio (beyond one pixel of rounding) is refused."""
    from ...depth.refine import guided_filter

    if matte.ndim != 4 or matte.shape[1] != 1 or matte.shape[0] not in (1, image.shape[0]):
        raise InputError(f"matte must be (1 or B, 1, h, w) in [0, 1]; got shape {tuple(matte.shape)}.")
    (h, w), (height, width) = matte.shape[-2:], image.shape[-2:]
    if abs(h * width / w - height) > max(1.0, height / h) or abs(w * height / h - width) > max(1.0, width / w):
        raise InputError(f"the subject matte is {w}x{h}, the photo {width}x{height}: a different aspect ratio. "
                         "Give a matte of the photo's shape (any resolution).")
    matte = matte.to(image.device, image.dtype).clamp(0.0, 1.0)
    if (h, w) == (height, width):
        return matte
    factor = max(height / h, width / w)
    up = F.interpolate(matte, size=(height, width), mode="bilinear", align_corners=False)
    guide = image.clamp(0.0, 1.0) ** (1 / 2.2)   # display-like values for the guide
    if up.shape[0] != guide.shape[0]:
        up = up.expand(guide.shape[0], -1, -1, -1)
    radius = max(2, round(2 * factor))
    return guided_filter(guide, up, radius, 1e-3).clamp(0.0, 1.0)


def layered_reference(image: np.ndarray, coc_px: np.ndarray, aperture: Aperture = CIRCLE,
                      spacing: float = 0.2, softness: float = 0.3, min_step: float = 1.5) -> np.ndarray:
    """The readable definition of the layered composite (no scatter blend, full resolution, float64).

    Args:
        image: ``(C, H, W)`` non-negative values (already raised to γ).
        coc_px: ``(H, W)`` signed blur radius.

    Returns:
        ``(C, H, W)``.
    """
    from scipy.ndimage import correlate

    centres = layer_centres(float(coc_px.min()), float(coc_px.max()), spacing, min_step)
    colour = np.zeros(image.shape)
    cover = np.zeros(coc_px.shape)
    for k, radius in enumerate(centres):
        weight, share, hidden = layer_weights(coc_px.astype(np.float64), centres, k, softness)
        if not (weight > 0).any():
            continue
        layer = np.concatenate([image * share, share[None]])
        known = 1.0 - hidden
        if (known < 1).any():
            t = _no_lights(torch.from_numpy(layer[None]))
            filled = pull_push(t, torch.from_numpy(known[None, None])).numpy()[0]
            layer = known * layer + (1 - known) * filled
        if radius != 0:
            kernel = _kernel(abs(radius), aperture, foreground=radius > 0)
            ones = correlate(np.ones(coc_px.shape), kernel, mode="constant")
            layer = np.stack([correlate(ch, kernel, mode="constant") for ch in layer]) / ones
        alpha = layer[-1].clip(0, 1)
        colour = layer[:-1] + (1 - alpha) * colour
        cover = alpha + (1 - alpha) * cover
    return colour / np.maximum(cover, 1e-6)

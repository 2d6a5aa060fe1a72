"""The shared dataclasses of lensblur and the conventions they carry.

Conventions (also in ARCHITECTURE.md):

* Images are ``(B, 3, H, W)`` float32 tensors holding **linear-light** RGB, nominally in [0, 1]
  (values above 1 are allowed: boosted highlights). ``lensblur.io`` is the only place that sees sRGB,
  uint8/uint16 or file formats.
* Depth-like maps are ``(B, 1, H, W)`` float32 tensors wrapped in :class:`DepthMap`, which says whether
  they hold depth or disparity and whether the scale is relative or metric.
* Disparity grows towards the camera: **larger = nearer**. Normalised disparity is in [0, 1] with
  1 = nearest point of the image.
* Blur is a **signed radius in pixels** (``coc_px``): positive in front of the focal plane (nearer),
  negative behind it, 0 in focus. Photographic formulas give a circle-of-confusion *diameter*; it is
  halved before it becomes ``coc_px``.
* Pixel positions are ``(x, y)``: x = column (0 = left), y = row (0 = top).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor

from .errors import InputError, InvalidParameterError

__all__ = [
    "DepthMap",
    "Scene",
    "Aperture",
    "Lens",
    "Focus",
    "Highlights",
    "HighlightBoost",
    "RenderResult",
    "CIRCLE",
]

DepthKind = Literal["depth", "disparity"]
DepthScale = Literal["relative", "metric"]


@dataclass(frozen=True, eq=False)
class DepthMap:
    """A depth or disparity map that knows what it holds.

    Attributes:
        values: ``(B, 1, H, W)`` float32. Holes may be NaN/inf until ``lensblur.depth.fill_holes``.
        kind: ``"depth"`` (distance, larger = farther) or ``"disparity"`` (larger = nearer).
        scale: ``"metric"`` (metres, or 1/metres for disparity) or ``"relative"`` (any affine scale).
        source: where the map came from, recorded in outputs (for example ``"file:depth.png"``).

    Example:
        >>> d = DepthMap(torch.tensor([[[[1.0, 2.0]]]]), kind="depth", scale="metric")
        >>> d.to_disparity().values.flatten().tolist()
        [1.0, 0.5]
    """

    values: Tensor
    kind: DepthKind
    scale: DepthScale
    source: str = "unknown"

    @classmethod
    def from_array(cls, values: Any, *, kind: DepthKind, scale: DepthScale = "relative",
                   source: str = "array") -> DepthMap:
        """A DepthMap from an ``(H, W)`` or ``(1, 1, H, W)`` numpy array or tensor of the given ``kind``.

        Example:
            >>> DepthMap.from_array(np.ones((4, 5)), kind="disparity").values.shape
            torch.Size([1, 1, 4, 5])
        """
        if isinstance(values, Tensor):
            tensor = values.detach().cpu().float()
        elif isinstance(values, np.ndarray) and (np.issubdtype(values.dtype, np.floating)
                                                 or np.issubdtype(values.dtype, np.integer)):
            tensor = torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32))
        else:
            raise InputError(f"depth values must be a numpy array of numbers or a tensor; got "
                             f"{type(values).__name__}{' of ' + str(values.dtype) if hasattr(values, 'dtype') else ''}.")
        if kind not in ("depth", "disparity"):
            raise InvalidParameterError(
                f"kind must be 'disparity' (larger = nearer; Depth Anything, MiDaS) or 'depth' (larger = farther; "
                f"metres) for a depth array; got {kind!r}.")
        if tensor.ndim == 2:
            tensor = tensor[None, None]
        elif tensor.ndim == 3 and tensor.shape[0] == 1:
            tensor = tensor[None]
        if tensor.ndim != 4 or tuple(tensor.shape[:2]) != (1, 1):
            raise InputError(f"depth must have shape (H, W) or (1, 1, H, W); got {tuple(tensor.shape)}.")
        return cls(tensor.contiguous(), kind=kind, scale=scale, source=source)

    def __post_init__(self) -> None:
        if not isinstance(self.values, Tensor):
            raise InputError(
                f"DepthMap.values must be a torch.Tensor of shape (B, 1, H, W); got {type(self.values).__name__}. "
                "Convert with torch.from_numpy(array)[None, None].")
        if self.values.ndim != 4 or self.values.shape[1] != 1:
            raise InputError(
                f"DepthMap.values must have shape (B, 1, H, W); got {tuple(self.values.shape)}. "
                "Add the missing axes with values[None, None] for a single (H, W) map.")
        if self.kind not in ("depth", "disparity"):
            raise InvalidParameterError(
                f"DepthMap.kind must be 'depth' or 'disparity'; got {self.kind!r}. "
                "Disparity grows towards the camera (larger = nearer); depth grows away from it.")
        if self.scale not in ("relative", "metric"):
            raise InvalidParameterError(
                f"DepthMap.scale must be 'relative' or 'metric'; got {self.scale!r}.")

    @property
    def shape_hw(self) -> tuple[int, int]:
        """(H, W) of the map."""
        return int(self.values.shape[-2]), int(self.values.shape[-1])

    def to_disparity(self, eps: float = 1e-6) -> DepthMap:
        """Return the map as disparity (1/depth for depth maps; unchanged for disparity maps).

        Depth values at or below ``eps`` are clamped to ``eps`` first. Metric depth in metres becomes
        disparity in 1/metres.
        """
        if self.kind == "disparity":
            return self
        return replace(self, values=1.0 / self.values.clamp_min(eps), kind="disparity")

    def normalized(self) -> DepthMap:
        """Disparity min-max normalised per image to [0, 1], 1 = nearest; scale becomes relative.

        A constant map cannot be normalised (it carries no depth) and raises InputError.
        """
        disp = self.to_disparity().values
        flat = disp.flatten(1)
        lo = flat.amin(dim=1).view(-1, 1, 1, 1)
        hi = flat.amax(dim=1).view(-1, 1, 1, 1)
        span = hi - lo
        if not torch.isfinite(span).all():
            raise InputError(
                "depth holds NaN or inf values; fill the holes first with lensblur.depth.fill_holes(depth).")
        if (span <= 0).any():
            raise InputError(
                f"depth is constant (every pixel = {float(lo.flatten()[0]):g}), so it says nothing about "
                "what is near or far. Pass a real depth or disparity map, or a blur map (coc_px) instead.")
        return replace(self, values=(disp - lo) / span, kind="disparity", scale="relative")


@dataclass(frozen=True, eq=False)
class Scene:
    """A photo and, when known, its depth.

    Attributes:
        image: ``(B, 3, H, W)`` float32, linear RGB.
        depth: the scene's depth or disparity, same H and W as the image, or None.
        meta: file metadata carried to the output (ICC profile, EXIF, bit depth), see ``lensblur.io``.
        matte: ``(B, 1, h, w)`` subject matte in [0, 1] (an iPhone portrait matte), any resolution, or None.
    """

    image: Tensor
    depth: DepthMap | None = None
    meta: Any = None
    matte: Tensor | None = None

    def with_depth(self, depth: Any, *, kind: DepthKind | None = None, scale: DepthScale = "relative") -> Scene:
        """A copy of the scene holding ``depth``: a :class:`DepthMap`, or an ``(H, W)`` array or tensor of the
        given ``kind`` (``"disparity"`` or ``"depth"``; a file is read with ``lensblur.read_depth``).

        Example:
            >>> scene = Scene(torch.rand(1, 3, 4, 5)).with_depth(np.ones((4, 5)), kind="disparity")
            >>> scene.depth.kind
            'disparity'
        """
        if isinstance(depth, DepthMap):
            return replace(self, depth=depth)
        if isinstance(depth, (str, os.PathLike)):
            raise InputError(f"with_depth takes a DepthMap or an array; for the file {str(depth)!r} use "
                             "scene.with_depth(lensblur.read_depth(path, kind='disparity')).")
        if kind is None:
            raise InvalidParameterError(
                "with_depth(array) needs kind='disparity' (larger = nearer; Depth Anything, MiDaS) or kind='depth' "
                "(larger = farther; metres).")
        return replace(self, depth=DepthMap.from_array(depth, kind=kind, scale=scale))


@dataclass(frozen=True, eq=False)
class Aperture:
    """The shape of the lens opening, which is the shape of every out-of-focus highlight.

    Attributes:
        blades: number of straight diaphragm blades (>= 3), or None for a circle.
        rotation_deg: rotation of the polygon, counter-clockwise as seen in the image; at 0 a vertex
            points straight up.
        roundness: blade curvature, 0 = straight edges (a regular polygon), 1 = a circle.
        kernel: a custom aperture image ``(h, w)`` of non-negative weights (for example a heart or a
            cat's-eye shape); its bounding square is scaled to the blur diameter. Overrides ``blades``.

    The blur radius is the circumradius: polygon vertices touch the circle of the same radius.
    """

    blades: int | None = None
    rotation_deg: float = 0.0
    roundness: float = 0.0
    kernel: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.blades is not None and (
                isinstance(self.blades, bool) or not isinstance(self.blades, (int, np.integer))
                or self.blades < 3):
            raise InvalidParameterError(
                f"Aperture.blades must be an integer >= 3, or None for a circle; got {self.blades!r}.")
        if not math.isfinite(self.rotation_deg):
            raise InvalidParameterError(f"Aperture.rotation_deg must be finite; got {self.rotation_deg!r}.")
        if not 0.0 <= self.roundness <= 1.0:
            raise InvalidParameterError(
                f"Aperture.roundness must be in [0, 1] (0 = straight blades, 1 = circle); got {self.roundness!r}.")
        if self.kernel is not None:
            k = np.asarray(self.kernel, dtype=np.float64)
            if k.ndim != 2 or min(k.shape) < 1:
                raise InvalidParameterError(
                    f"Aperture.kernel must be a 2-D grey image (h, w); got shape {k.shape}. "
                    "Load it with lensblur.io.read_kernel(path).")
            if not np.isfinite(k).all() or (k < 0).any() or k.max() <= 0:
                raise InvalidParameterError(
                    "Aperture.kernel must hold finite, non-negative weights with at least one positive value.")
            object.__setattr__(self, "kernel", np.ascontiguousarray(k))

    @property
    def name(self) -> str:
        """A short human-readable description, used in file names and logs."""
        if self.kernel is not None:
            return "custom-kernel"
        if self.blades is None:
            return "circle"
        return f"{self.blades}-blade"


CIRCLE = Aperture()

CocModel = Literal["thin-lens", "fixed-sensor"]


@dataclass(frozen=True)
class Lens:
    """How much blur, and of what shape.

    Give either ``strength_px`` (BokehMe's K) or a photographic lens (``f_number`` and
    ``focal_length_mm``; needs metric depth).

    Attributes:
        strength_px: BokehMe's K, the blur radius in px at a normalised disparity difference of 1
            (r = K·|d − d_f|, with d normalised to [0, 1]).
        f_number: N of the photographic lens.
        focal_length_mm: focal length f of the photographic lens.
        sensor_width_mm: width of the sensor the photo's full width maps to (36 = full frame).
        coc_model: ``"thin-lens"`` uses the textbook CoC diameter (f/N)·f·|z − S| / (z·(S − f));
            ``"fixed-sensor"`` drops the S/(S − f) factor, as Blender Cycles does (sensor kept at f).
        aperture: the aperture shape.
    """

    strength_px: float | None = None
    f_number: float | None = None
    focal_length_mm: float | None = None
    sensor_width_mm: float = 36.0
    coc_model: CocModel = "thin-lens"
    aperture: Aperture = CIRCLE

    def __post_init__(self) -> None:
        photographic = self.f_number is not None or self.focal_length_mm is not None
        if self.strength_px is not None and photographic:
            raise InvalidParameterError(
                "Lens takes either strength_px (BokehMe's K) or f_number + focal_length_mm, not both; "
                f"got strength_px={self.strength_px}, f_number={self.f_number}, "
                f"focal_length_mm={self.focal_length_mm}.")
        if self.strength_px is None and not photographic:
            raise InvalidParameterError(
                "Lens needs a blur amount: strength_px=K (for example Lens(strength_px=20)), or "
                "f_number and focal_length_mm for a photographic lens with metric depth.")
        if self.strength_px is not None and not (math.isfinite(self.strength_px) and self.strength_px >= 0):
            raise InvalidParameterError(
                f"Lens.strength_px (blur radius in px) must be finite and >= 0; got {self.strength_px}. "
                "Use 0 for no blur.")
        if photographic:
            for name in ("f_number", "focal_length_mm"):
                value = getattr(self, name)
                if value is None or not (math.isfinite(value) and value > 0):
                    raise InvalidParameterError(
                        f"Lens.{name} must be a positive number for a photographic lens; got {value}.")
        if not (math.isfinite(self.sensor_width_mm) and self.sensor_width_mm > 0):
            raise InvalidParameterError(
                f"Lens.sensor_width_mm must be positive; got {self.sensor_width_mm}.")
        if self.coc_model not in ("thin-lens", "fixed-sensor"):
            raise InvalidParameterError(
                f"Lens.coc_model must be 'thin-lens' or 'fixed-sensor'; got {self.coc_model!r}.")
        if not isinstance(self.aperture, Aperture):
            raise InvalidParameterError(
                f"Lens.aperture must be an Aperture; got {type(self.aperture).__name__}.")

    @property
    def is_photographic(self) -> bool:
        """True when the blur comes from f-number and focal length (needs metric depth)."""
        return self.strength_px is None


@dataclass(frozen=True)
class Focus:
    """Where the focal plane is, and how deep the sharp zone around it is.

    Build it with one of the constructors: :meth:`at_pixel`, :meth:`at_disparity`,
    :meth:`at_distance` or :meth:`between`. Disparity values are in the units of the disparity the blur is
    computed from: normalised [0, 1] (1 = nearest) for relative depth, 1/metres for metric depth.

    Attributes:
        disparity: focus disparity d_f.
        pixel: ``(x, y)`` of a clicked pixel; d_f is the median disparity in a window around it.
        window_px: side of that square window.
        distance_m: focus distance S in metres (metric depth only).
        band: ``(far, near)`` disparity range kept perfectly sharp.
        tolerance: half-width of the sharp band around a point focus, in disparity units.
    """

    disparity: float | None = None
    pixel: tuple[int, int] | None = None
    window_px: int = 9
    distance_m: float | None = None
    band: tuple[float, float] | None = None
    tolerance: float = 0.0

    def __post_init__(self) -> None:
        given = [n for n in ("disparity", "pixel", "distance_m", "band") if getattr(self, n) is not None]
        if len(given) != 1:
            raise InvalidParameterError(
                "Focus needs exactly one of disparity, pixel, distance_m or band; "
                f"got {given or 'none'}. Use Focus.at_pixel(x=..., y=...), Focus.at_disparity(d), "
                "Focus.at_distance(m) or Focus.between(far, near).")
        if self.window_px < 1:
            raise InvalidParameterError(f"Focus.window_px must be >= 1; got {self.window_px}.")
        if not (math.isfinite(self.tolerance) and self.tolerance >= 0):
            raise InvalidParameterError(f"Focus.tolerance must be >= 0; got {self.tolerance}.")
        if self.distance_m is not None and not (math.isfinite(self.distance_m) and self.distance_m > 0):
            raise InvalidParameterError(f"Focus.distance_m must be a positive distance; got {self.distance_m}.")
        if self.disparity is not None and not math.isfinite(self.disparity):
            raise InvalidParameterError(f"Focus.disparity must be finite; got {self.disparity}.")
        if self.band is not None:
            far, near = self.band
            if not (math.isfinite(far) and math.isfinite(near)) or far > near:
                raise InvalidParameterError(
                    f"Focus.band must be (far, near) disparities with far <= near; got {self.band}. "
                    "Disparity grows towards the camera, so the near end is the larger number.")

    @classmethod
    def at_pixel(cls, *, x: int, y: int, window_px: int = 9, tolerance: float = 0.0) -> Focus:
        """Focus on the median disparity around pixel (x, y) (x = column, y = row)."""
        return cls(pixel=(int(x), int(y)), window_px=window_px, tolerance=tolerance)

    @classmethod
    def at_disparity(cls, disparity: float, *, tolerance: float = 0.0) -> Focus:
        """Focus at a disparity value (normalised [0, 1] for relative depth)."""
        return cls(disparity=float(disparity), tolerance=tolerance)

    @classmethod
    def at_distance(cls, distance_m: float, *, tolerance: float = 0.0) -> Focus:
        """Focus at a distance in metres (needs metric depth)."""
        return cls(distance_m=float(distance_m), tolerance=tolerance)

    @classmethod
    def between(cls, far: float, near: float) -> Focus:
        """Keep every disparity in [far, near] perfectly sharp (a whole face, say)."""
        return cls(band=(float(far), float(near)))


@dataclass(frozen=True)
class Highlights:
    """Highlight reconstruction: estimate the light a photo clipped, so blurred lights become bright balls.

    Only what the file lost is touched: channels at or within ``tolerance_codes`` code values of full scale
    in the file as stored. Each group of clipped pixels gets a brightness estimated from its size, the glow
    around it and its unclipped channels (``render.classical.highlights``). Pixels that did not clip keep
    their values, so a photo with no clipped pixel renders exactly as without reconstruction. Float
    (linear HDR) input clipped nothing and is left alone.

    Attributes:
        tolerance_codes: code values below full scale still counted as clipped (JPEG noise near white).
        max_gain: the brightest a reconstructed point light (a blob of up to 4 px) may become, in units
            of white; larger blobs are capped lower, the excess falling with size. None (the default) is
            measured per renderer (docs/highlights.md): 16, falling as (N / 4)^-0.75, for the layered
            renderer, and 8, falling as (N / 4)^-0.5, for renderers without occlusion (scatter, hybrid,
            neural), which spread an over-estimated light also across nearer surfaces that the lens hides
            it behind. The photo cannot tell a light 5x white from one 50x white reliably, and
            over-estimating costs more than under-estimating; raise it for night scenes you know are full
            of strong point lights.
        large_area_px: blobs larger than this many pixels (a sky, a window; blobs a few px apart count as one)
            are large areas: their light is white and, with the layered renderer, as bright as their edge
            says (the share of edge pixels that stayed below white; at most 3x white)...
        large_area_gain: ...while with renderers without occlusion they together gain at most the light of
            ``large_area_gain`` x ``large_area_px`` white pixels (so a 1024-px window gains at most 0.125 x
            white per pixel at the defaults): those renderers would spread a bright sky's extra light over
            the subject in front of it, where the lens hides it.
        bit_depth: bits per channel of the stored photo (8 or 16); None takes it from the file the scene
            was read from, and skips reconstruction for an image that came from no file (float input).
        lossy: whether the photo was stored with lossy compression (JPEG, HEIC). Compression moves channels
            near full scale by a few code values, so inside a clipped light a channel within 10 codes of full
            scale counts as clipped too (raised with the others, not read as the light's colour), and the
            caps are halved (the blob's features are noisier). None (the default) takes it from the file the
            scene was read from (False for an image that came from no file).
    """

    tolerance_codes: int = 2
    max_gain: float | None = None
    large_area_px: int = 256
    large_area_gain: float = 0.5
    bit_depth: int | None = None
    lossy: bool | None = None

    def __post_init__(self) -> None:
        if isinstance(self.tolerance_codes, bool) or not isinstance(self.tolerance_codes, (int, np.integer)) \
                or not 0 <= self.tolerance_codes <= 16:
            raise InvalidParameterError(
                f"Highlights.tolerance_codes must be an integer in [0, 16]; got {self.tolerance_codes!r}.")
        if self.max_gain is not None and not (isinstance(self.max_gain, (int, float)) and math.isfinite(self.max_gain)
                                              and self.max_gain >= 1):
            raise InvalidParameterError(f"Highlights.max_gain must be >= 1 (units of white); got {self.max_gain!r}.")
        if isinstance(self.large_area_px, bool) or not isinstance(self.large_area_px, (int, np.integer)) \
                or self.large_area_px < 1:
            raise InvalidParameterError(
                f"Highlights.large_area_px must be a positive integer; got {self.large_area_px!r}.")
        if not (math.isfinite(self.large_area_gain) and self.large_area_gain >= 0):
            raise InvalidParameterError(
                f"Highlights.large_area_gain must be >= 0; got {self.large_area_gain!r}.")
        if self.bit_depth not in (None, 8, 16):
            raise InvalidParameterError(
                f"Highlights.bit_depth must be 8, 16 or None (from the file); got {self.bit_depth!r}.")
        if self.lossy not in (None, True, False):
            raise InvalidParameterError(
                f"Highlights.lossy must be True, False or None (from the file); got {self.lossy!r}.")


@dataclass(frozen=True)
class HighlightBoost:
    """The artistic highlight boost (not physical): bright, blurred pixels times up to ``1 + gain``.

    Every pixel whose brightest channel exceeds ``threshold`` (linear light) is brightened, clipped or
    not, ramping in between a blur radius of ``min_blur_px`` and twice that (BokehMe's demo ``--highlight``
    does the same). It brightens bright walls and skies too; prefer :class:`Highlights`.

    Attributes:
        threshold: linear brightness above which the boost starts (0.75 linear ≈ 0.88 sRGB).
        gain: extra brightness at full strength (1 + gain times).
        min_blur_px: blur radius below which nothing is boosted.
    """

    threshold: float = 0.75
    gain: float = 3.0
    min_blur_px: float = 1.5

    def __post_init__(self) -> None:
        if not 0.0 <= self.threshold < 1.0:
            raise InvalidParameterError(
                f"HighlightBoost.threshold must be in [0, 1) (linear light); got {self.threshold}.")
        if not (math.isfinite(self.gain) and self.gain >= 0):
            raise InvalidParameterError(f"HighlightBoost.gain must be >= 0; got {self.gain}.")
        if not (math.isfinite(self.min_blur_px) and self.min_blur_px >= 0):
            raise InvalidParameterError(f"HighlightBoost.min_blur_px must be >= 0; got {self.min_blur_px}.")


@dataclass(frozen=True, eq=False)
class RenderResult:
    """What a render returns.

    Attributes:
        image: ``(B, 3, H, W)`` linear RGB, the shallow-depth-of-field image.
        coc_px: ``(B, 1, H, W)`` signed blur radius in px (positive = nearer than focus).
        dilated_coc_px: BokehMe's dilated signed defocus (signed maximum of the truncated radii of every
            aperture covering a pixel), when asked for, else None.
        focus_band: the resolved ``(far, near)`` disparities kept sharp, or None for a given blur map.
        extras: anything else a renderer reports (timings, backend).
    """

    image: Tensor
    coc_px: Tensor
    dilated_coc_px: Tensor | None = None
    focus_band: tuple[float, float] | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    def to_numpy(self, dtype: Any = np.uint8) -> np.ndarray:
        """The first image as an ``(H, W, 3)`` array: ``np.uint8`` or ``np.uint16`` give sRGB-encoded values
        clipped to white (what PIL, OpenCV and image files hold); ``np.float32`` gives linear light, unclipped.

        Example:
            >>> r = RenderResult(torch.full((1, 3, 2, 2), 0.5), torch.zeros(1, 1, 2, 2))
            >>> r.to_numpy()[0, 0].tolist(), r.to_numpy(np.float32)[0, 0, 0]
            ([188, 188, 188], np.float32(0.5))
        """
        from ._colour import srgb_encode

        image = self.image[0].detach().float().cpu()
        dtype = np.dtype(dtype)
        if dtype == np.float32:
            return np.ascontiguousarray(image.permute(1, 2, 0).numpy())
        if dtype not in (np.uint8, np.uint16):
            raise InvalidParameterError(f"to_numpy dtype must be uint8, uint16 or float32; got {dtype}.")
        top = np.iinfo(dtype).max
        srgb = srgb_encode(image.clamp(0.0, 1.0)).permute(1, 2, 0).numpy()
        return np.round(srgb * top).astype(dtype)

    def to_pil(self):
        """The first image as an 8-bit sRGB ``PIL.Image`` (clipped to white)."""
        from PIL import Image

        return Image.fromarray(self.to_numpy(np.uint8), "RGB")

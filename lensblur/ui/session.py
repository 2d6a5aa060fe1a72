"""The web app's work without the web: one :class:`Workspace` per browser tab, and plain functions that
open a photo, focus it, render a preview or the full-resolution image, and export it.

Nothing here imports gradio, so every step is tested directly (tests/ui/test_session.py) and the page
(``ui/app.py``) only wires controls to these functions.

Preview and final render agree by construction: the depth is prepared once at full resolution (holes
filled, resized to the photo) and put in the render's units (normalised disparity, or 1/m for a
photographic lens); the focus band is resolved once on it; the preview is that disparity area-averaged to
about :data:`PREVIEW_PIXELS`, with every blur radius scaled by the preview's size. Both renders are
``render(..., coc_px=...)`` on the same signed-radius formula.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

import lensblur as lb
from lensblur.depth.convert import DepthResizeWarning, prepare_depth
from lensblur.errors import WeightsUnavailableError
from lensblur.io import read_kernel
from lensblur.io.images import linear_to_srgb, with_description
from lensblur.io.previews import disparity_preview
from lensblur.optics.coc import signed_coc_px, thin_lens_strength_px
from lensblur.optics.focus import autofocus, resolve_focus

__all__ = ["PREVIEW_PIXELS", "Settings", "Workspace", "open_photo", "focus_band", "preview", "render_full",
           "export", "depth_view", "message", "estimator_status", "ESTIMATOR_INSTALL"]

PREVIEW_PIXELS = 1_000_000
# the one command that puts the default estimator's weights where the app finds them (the Hugging Face cache)
ESTIMATOR_INSTALL = f"hf download {lb.depth.ESTIMATORS[lb.depth.DEFAULT_ESTIMATOR].hub_id}"


@dataclass(frozen=True)
class Settings:
    """What the page's controls say. Blur is in full-resolution pixels (BokehMe's K) or, with
    ``use_lens``, a photographic f-number and focal length (metric depth only)."""

    focus_xy: tuple[int, int] | None = None  # full-resolution pixel clicked; None = autofocus
    focus_range: float = 0.0                 # share of the scene's disparity range kept sharp around the focus
    blur_px: float = 20.0
    use_lens: bool = False
    f_number: float = 1.8
    focal_length_mm: float = 50.0
    sensor_width_mm: float = 36.0
    blades: int | None = None                # None = circle
    rotation_deg: float = 0.0
    roundness: float = 0.0
    aperture_image: str | None = None        # a custom aperture shape file (bright = open)
    highlights: bool = False
    renderer: str = lb.DEFAULT_RENDERER      # "layered": the scatter preview shows first, then this one


@dataclass
class Workspace:
    """One tab's photo, its depth in the render's units at full and preview size, and the preview's scale."""

    scene: lb.Scene
    name: str                                  # the photo's file name, for messages and the exported file
    depth_note: str                            # where the depth came from, in one line for the page
    disparity: dict[str, Tensor] = field(default_factory=dict)          # "relative" / "metric", full size
    preview_disparity: dict[str, Tensor] = field(default_factory=dict)  # the same, area-averaged to the preview
    preview_image: Tensor | None = None        # (1, 3, h, w) linear, about PREVIEW_PIXELS
    scale: float = 1.0                         # preview px per full-resolution px
    last_preview: np.ndarray | None = None     # the preview the page shows now (for the before/after view)
    generation: int = 0                        # raised by every new request; a stale slow preview stops
    requested: Settings | None = None          # the newest request's settings; None: as the photo opened
    _coc_cache: dict = field(default_factory=dict, repr=False)  # the last blur map per size (preview / full)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def request(self, settings: Settings) -> int:
        """Record a new request from the page (a click, a slider, a choice); returns its generation."""
        self.generation += 1
        self.requested = settings
        return self.generation

    def is_current(self, settings: Settings, generation: int) -> bool:
        """Whether a slow preview for ``settings``, begun at ``generation``, may still be shown: nothing was asked
        for since it began, and the newest request asked for these settings. The second condition matters when
        the slow step starts only after a newer quick request (it then reads the newer generation): its settings
        are the old ones, and showing it would put an outdated picture and status over the newer answer."""
        return self.generation == generation and (self.requested is None or self.requested == settings)

    @property
    def has_depth(self) -> bool:
        return bool(self.disparity)

    @property
    def size_hw(self) -> tuple[int, int]:
        return tuple(self.scene.image.shape[-2:])

    @property
    def original_preview(self) -> np.ndarray:
        return to_uint8(self.preview_image)


def to_uint8(image: Tensor) -> np.ndarray:
    """Linear ``(1, 3, H, W)`` as an sRGB ``(H, W, 3)`` uint8 array for the page."""
    srgb = linear_to_srgb(image[0].clamp(0, 1)).permute(1, 2, 0).numpy()
    return (srgb * 255 + 0.5).astype(np.uint8)


def _preview_size(height: int, width: int) -> tuple[int, int]:
    scale = min(1.0, math.sqrt(PREVIEW_PIXELS / (height * width)))
    return max(1, round(height * scale)), max(1, round(width * scale))


def _shrink(values: Tensor, size_hw: tuple[int, int]) -> Tensor:
    if tuple(values.shape[-2:]) == tuple(size_hw):
        return values.clone()
    return F.interpolate(values, size=size_hw, mode="area")


_ESTIMATOR: dict[str, object] = {}
_ESTIMATOR_LOCK = threading.Lock()


def estimator_status(weights_dir: str | None = None) -> str | None:
    """None when the default depth estimator's weights are on this machine, else the page's message."""
    try:
        _estimator(weights_dir)
        return None
    except (WeightsUnavailableError, lb.MissingDependencyError) as err:
        if isinstance(err, lb.MissingDependencyError):
            return f"Depth estimation is not installed ({err}). Add a depth or disparity map instead."
        return (f"No depth estimator on this machine. Install it once with `{ESTIMATOR_INSTALL}` (about 100 MB), "
                "or add a depth or disparity map.")


def _estimator(weights_dir: str | None):
    """The default estimator, loaded once per process from local files only (the app never downloads)."""
    with _ESTIMATOR_LOCK:
        key = str(weights_dir)
        if key not in _ESTIMATOR:
            _ESTIMATOR[key] = lb.depth.load_estimator(weights_dir=weights_dir, local_files_only=True)
        return _ESTIMATOR[key]


def open_photo(photo: str | os.PathLike, depth_file: str | os.PathLike | None = None, *,
               depth_kind: str | None = None, depth_scale: str = "relative",
               estimator_dir: str | None = None) -> Workspace:
    """Read a photo and find its depth: stored in the photo, else ``depth_file``, else the estimator.

    A depth file given by the user wins over depth stored in the photo (they chose it). With no depth at all
    the workspace still opens (``has_depth`` false) and ``depth_note`` says how to get depth.
    """
    photo = Path(photo)
    scene = lb.load_scene(photo, depth_file, depth_kind=depth_kind, depth_scale=depth_scale)
    if depth_file is not None:
        note = f"depth: {Path(depth_file).name} ({scene.depth.kind}, {scene.depth.scale})"
    elif scene.depth is not None:
        note = f"depth: stored in the photo ({scene.depth.source})"
    else:
        missing = estimator_status(estimator_dir)
        if missing is None:
            scene = dataclasses.replace(scene, depth=lb.depth.estimate_depth(scene.image, network=_estimator(estimator_dir)))
            note = f"depth: estimated from the photo ({lb.depth.DEFAULT_ESTIMATOR}); add a depth map for exact depth"
        else:
            note = missing
    workspace = Workspace(scene=scene, name=photo.name, depth_note=note)
    height, width = scene.image.shape[-2:]
    size = _preview_size(height, width)
    workspace.preview_image = _shrink(scene.image, size)
    workspace.scale = size[1] / width
    if scene.depth is not None:
        with warnings.catch_warnings():  # phone depth is smaller than the photo by design: upsampling is expected
            warnings.simplefilter("ignore", DepthResizeWarning)
            prepared = prepare_depth(scene.depth, (height, width))
        units = {"relative": prepared.normalized().values}
        if prepared.scale == "metric":
            units["metric"] = prepared.to_disparity().values
        workspace.disparity = units
        workspace.preview_disparity = {k: _shrink(v, size) for k, v in units.items()}
    return workspace


def _units(workspace: Workspace, settings: Settings) -> str:
    if not settings.use_lens:
        return "relative"
    if "metric" not in workspace.disparity:
        raise lb.InvalidParameterError(
            "f-number and focal length need metric depth (metres, as phones and renderers store it); this depth is "
            "relative. Set the blur in pixels, or add a metric depth map and say it holds metres.")
    return "metric"


def focus_band(workspace: Workspace, settings: Settings) -> tuple[float, float]:
    """``(far, near)`` disparities kept sharp, in the units the blur uses (``_units``)."""
    disparity = workspace.disparity[_units(workspace, settings)]
    depth = lb.DepthMap(disparity, kind="disparity", scale="metric" if settings.use_lens else "relative")
    if settings.focus_xy is None:
        focus = autofocus(depth)
    else:
        x, y = settings.focus_xy
        focus = lb.Focus.at_pixel(x=x, y=y, window_px=max(9, round(9 / workspace.scale)))
    far, near = resolve_focus(focus, depth)
    if settings.focus_range > 0:
        finite = disparity[torch.isfinite(disparity)]
        half = 0.5 * settings.focus_range * float(finite.max() - finite.min())
        far, near = far - half, near + half
        if settings.use_lens:
            far = max(far, 0.0)  # 1/m: never beyond infinity
    return far, near


def _strength_px(workspace: Workspace, settings: Settings, band: tuple[float, float]) -> float:
    if not settings.use_lens:
        return float(settings.blur_px)
    centre = 0.5 * (band[0] + band[1])
    return thin_lens_strength_px(f_number=settings.f_number, focal_length_mm=settings.focal_length_mm,
                                 focus_distance_m=1.0 / max(centre, 1e-6), image_width_px=workspace.size_hw[1],
                                 sensor_width_mm=settings.sensor_width_mm)


def _lens(settings: Settings) -> lb.Lens:
    if settings.aperture_image:
        aperture = read_kernel(settings.aperture_image)
    else:
        aperture = lb.Aperture(blades=settings.blades, rotation_deg=settings.rotation_deg,
                               roundness=settings.roundness)
    return lb.Lens(strength_px=1.0, aperture=aperture)


def _coc(workspace: Workspace, settings: Settings, *, preview: bool) -> Tensor:
    key = (settings.focus_xy, settings.focus_range, settings.blur_px, settings.use_lens, settings.f_number,
           settings.focal_length_mm, settings.sensor_width_mm)
    cached = workspace._coc_cache.get(preview)
    if cached is not None and cached[0] == key:
        return cached[1]
    band = focus_band(workspace, settings)
    units = _units(workspace, settings)
    disparity = (workspace.preview_disparity if preview else workspace.disparity)[units]
    strength = _strength_px(workspace, settings, band) * (workspace.scale if preview else 1.0)
    coc = signed_coc_px(disparity, far=band[0], near=band[1], strength_px=strength)
    workspace._coc_cache[preview] = (key, coc)
    return coc


def _render(workspace: Workspace, image: Tensor, coc: Tensor, settings: Settings, renderer: str, *,
            progress: bool) -> lb.RenderResult:
    scene = lb.Scene(image=image, depth=None, meta=workspace.scene.meta)
    return lb.render(scene, coc_px=coc, lens=_lens(settings), renderer=renderer, progress=progress,
                     highlights=lb.Highlights() if settings.highlights else None)


def preview(workspace: Workspace, settings: Settings, *, renderer: str = "scatter") -> np.ndarray:
    """The about-1-MP preview as sRGB uint8 ``(h, w, 3)``; the photo itself when there is no depth."""
    if not workspace.has_depth:
        return workspace.original_preview
    coc = _coc(workspace, settings, preview=True)
    return to_uint8(_render(workspace, workspace.preview_image, coc, settings, renderer, progress=False).image)


def render_full(workspace: Workspace, settings: Settings, *, progress: bool = True) -> lb.RenderResult:
    """The full-resolution render with the chosen renderer (a progress bar through tqdm)."""
    if not workspace.has_depth:
        raise lb.InputError("this photo has no depth yet: " + workspace.depth_note)
    coc = _coc(workspace, settings, preview=False)
    return _render(workspace, workspace.scene.image, coc, settings, settings.renderer, progress=progress)


def export(workspace: Workspace, result: lb.RenderResult, folder: str | os.PathLike, *, kind: str) -> Path:
    """Write the render for download: ``kind`` "png16" (16-bit PNG) or "jpeg" (keeps the photo's EXIF and
    ICC profile, as PNG does). The file is new in ``folder``; nothing is replaced."""
    if kind not in ("png16", "jpeg"):
        raise lb.InvalidParameterError(f"export kind must be 'png16' or 'jpeg'; got {kind!r}.")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    stem = Path(workspace.name).stem + "_lensblur"
    suffix, bits = (".png", 16) if kind == "png16" else (".jpg", 8)
    path = folder / (stem + suffix)
    counter = 1
    while path.exists():
        counter += 1
        path = folder / f"{stem}_{counter}{suffix}"
    meta = with_description(workspace.scene.meta, f"lensblur {lb.__version__}; {workspace.depth_note}")
    return lb.save_image(path, result.image, meta=meta, bit_depth=bits)


def depth_view(workspace: Workspace, settings: Settings) -> np.ndarray | None:
    """The preview-size disparity (dark = far, bright = near) with the sharp region tinted green."""
    if not workspace.has_depth:
        return None
    units = _units(workspace, settings)
    view = disparity_preview(workspace.preview_disparity[units])
    coc = _coc(workspace, settings, preview=True)
    sharp = (coc.abs() < 0.5).expand_as(view)
    green = torch.tensor([0.05, 0.8, 0.1]).view(1, 3, 1, 1).expand_as(view)
    view = torch.where(sharp, 0.45 * view + 0.55 * green, view)
    return to_uint8(view)


_HINT = re.compile("\x1f(.*?)\x1e(.*?)\x1d", re.S)


def message(err: BaseException, uploads: dict[str, str] | None = None) -> str:
    """One readable line for the page: the library's message, with upload paths shown as the user's file
    names and fixes stated with the command line's flags (the page has no Python arguments)."""
    if isinstance(err, MemoryError):
        return "Not enough memory for this render. Try a smaller photo, less blur or the scatter renderer."
    text = err.args[0] if err.args and isinstance(err.args[0], str) else str(err)
    text = _HINT.sub(lambda m: m.group(2), text)
    for path, name in (uploads or {}).items():
        text = text.replace(path, name)
    return text

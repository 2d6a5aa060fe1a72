"""``render()``: from a scene, a lens and a focus to a shallow-depth-of-field image."""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable
from typing import Any

from torch import Tensor

from .._checks import check_coc, check_image, limit_radius
from ..depth.convert import prepare_depth
from ..errors import InputError, InvalidParameterError, UnknownNameError, hint
from ..io.convert import as_depth, as_matte
from ..io.scene import load_scene
from ..optics.coc import signed_coc_px, thin_lens_strength_px
from ..optics.focus import autofocus, resolve_focus
from ..types import CIRCLE, Focus, HighlightBoost, Highlights, Lens, RenderResult, Scene
from .classical.highlights import boost_highlights, reconstruct_highlights
from .classical.layered import layered_blur
from .classical.scatter import scatter_blur
from .hybrid import hybrid_blur, neural_blur
from .memory import check_memory

log = logging.getLogger(__name__)

DEFAULT_RENDERER = "layered"   # beats the scatter on exact, degraded and refined depth (docs/layered_eval.md)

__all__ = ["DEFAULT_RENDERER", "RENDERERS", "RendererFallbackWarning", "render", "blur_map"]

RENDERERS: dict[str, Callable[..., RenderResult]] = {
    "scatter": scatter_blur,   # BokehMe's classical renderer (any aperture)
    "layered": layered_blur,   # occlusion-aware layers with the hidden background filled, scatter off the band
    "hybrid": hybrid_blur,     # BokehMe: scatter + neural renderer fused by the predicted error map
    "neural": neural_blur,     # BokehMe's neural renderer alone (ARNet + IUNet)
}


def blur_map(scene: Scene, *, lens: Lens, focus: Focus | None) -> tuple[Tensor, tuple[float, float], float]:
    """The signed blur radius map of a scene: ``(coc_px, (far, near), strength_px)``.

    With ``lens.strength_px`` (BokehMe's K) the disparity is normalised per image to [0, 1]; with a
    photographic lens the depth must be metric and K follows from the thin-lens formula
    (``optics.coc``), focused at the middle of the focus band. ``focus=None`` autofocuses
    (``optics.autofocus``: the nearest large region near the centre).
    """
    check_image(scene.image)
    if scene.depth is None:
        raise InputError(
            "the scene has no depth map, and no blur map (coc_px) was given. Give depth: "
            + hint("scene.with_depth(lensblur.read_depth(path))", "--depth MAP") + ".")
    height, width = scene.image.shape[-2:]
    depth = prepare_depth(scene.depth, (height, width))
    if lens.is_photographic:
        if depth.scale != "metric":
            raise InvalidParameterError(
                "a photographic lens (f_number, focal_length_mm) needs metric depth, but the depth map is "
                "relative. Give the blur as " + hint("Lens(strength_px=K)", "--blur K") + ", or say the depth "
                "is metric (" + hint("read_depth(path, scale='metric')", "--depth-scale metric") + ").")
        disparity = depth.to_disparity()
        far, near = resolve_focus(focus if focus is not None else autofocus(disparity), disparity)
        centre = 0.5 * (far + near)
        if centre <= 0:
            raise InvalidParameterError(f"the focus disparity must be positive (1/m); got {centre}.")
        strength = thin_lens_strength_px(
            f_number=lens.f_number, focal_length_mm=lens.focal_length_mm, focus_distance_m=1.0 / centre,
            image_width_px=width, sensor_width_mm=lens.sensor_width_mm, coc_model=lens.coc_model)
    else:
        disparity = depth.normalized()
        far, near = resolve_focus(focus if focus is not None else autofocus(disparity), disparity)
        centre = 0.5 * (far + near)
        if not 0.0 <= centre <= 1.0:
            raise InvalidParameterError(
                f"the focus disparity must be in [0, 1] for relative depth (normalised: 0 = farthest, 1 = nearest); "
                f"got {centre:g}. Use " + hint("Focus.at_disparity(0.5)", "--focus-disparity 0.5") + ", or focus at "
                "a pixel (" + hint("Focus.at_pixel(x=..., y=...)", "--focus-at X,Y") + ").")
        strength = float(lens.strength_px)
    coc = signed_coc_px(disparity.values.to(scene.image.device), far=far, near=near, strength_px=strength)
    return coc, (far, near), strength


def render(
    scene: Any,
    *,
    depth: Any = None,
    depth_kind: str | None = None,
    depth_scale: str = "relative",
    lens: Lens | None = None,
    focus: Focus | None = None,
    coc_px: Tensor | None = None,
    highlights: Highlights | None = None,
    boost: HighlightBoost | None = None,
    gamma: float | None = None,
    renderer: str | None = None,
    backend: str = "auto",
    return_dilated: bool = False,
    progress: bool = False,
    neural_weights: str | None = None,
    max_memory_gb: float | None = None,
    subject_matte: Any = None,
) -> RenderResult:
    """Render shallow depth of field.

    Args:
        scene: the photo (linear RGB) and its depth; or just the photo, as a path, a numpy array (uint8/uint16
            sRGB, float linear), a PIL image or a tensor (``lensblur.io.convert``), with ``depth`` beside it.
        depth: the depth for a bare photo (or to replace the scene's): a path, a DepthMap, or an ``(H, W)``
            array or tensor of kind ``depth_kind``.
        depth_kind: ``"disparity"`` (larger = nearer) or ``"depth"`` (larger = farther), for depth that does
            not say which.
        depth_scale: ``"relative"`` or ``"metric"`` (metres, or 1/metres for disparity).
        lens: blur amount and aperture shape. Optional when ``coc_px`` is given (then only its
            aperture is used; default circle).
        focus: where the focal plane is; None autofocuses (`optics.autofocus`). Not needed with ``coc_px``.
        coc_px: a precomputed ``(B, 1, H, W)`` signed blur radius in px (positive = nearer), used instead
            of depth, lens and focus (for evaluation and neural renderers).
        highlights: reconstruct the light the photo clipped (:class:`Highlights`), so blurred lights
            become bright bokeh balls; only clipped pixels change. Needs the photo's bit depth: from the
            file the scene was read from, or ``Highlights(bit_depth=8)`` for an image from elsewhere.
        boost: the artistic, non-physical brightening of every bright blurred pixel
            (:class:`HighlightBoost`, BokehMe's demo); off by default.
        gamma: None (default) blurs linear light, as a lens does. A number is BokehMe's γ on the
            display-encoded (sRGB) photo: about 2.2 is close to linear light, 3 to 5 make bright pixels
            dominate (an artistic emphasis), 1 averages display values (see ``scatter_blur``).
        renderer: a name in ``RENDERERS``: "layered" (the default: occlusion-aware layers with the hidden
            background filled near depth jumps, the scatter elsewhere; ``render.classical.layered``),
            "scatter" (BokehMe's classical renderer: about 10x faster, hard outlines and halos at depth
            jumps), "hybrid" (BokehMe: classical + neural at depth edges; the shipped weights), "neural" (the
            neural renderer alone). None (default) is "layered", or "scatter" with a
            :class:`RendererFallbackWarning` when the layered render would not fit in ``max_memory_gb``.
        backend: ``"auto"``, ``"numba"``, ``"torch"`` or ``"reference"``; the image's device decides
            for ``"auto"`` (a CUDA tensor renders on the GPU through torch).
        return_dilated: also return BokehMe's dilated signed defocus map.
        progress: show a progress bar.
        neural_weights: weights for "hybrid"/"neural" instead of the shipped ones: a ``.safetensors`` file
            or a folder with the official BokehMe ``arnet.pth`` and ``iunet.pth``.
        max_memory_gb: refuse a render whose estimated memory (``render.memory``) exceeds this; default 75 %
            of the memory available to the process (container limits included).
        subject_matte: for the "layered" renderer, a subject matte (1 = subject; a path, array, tensor or PIL
            image, any resolution of the photo's aspect ratio) that splits pixels on the subject's outline
            (hair) between subject and background; default: the scene's own portrait matte, if it has one.

    Returns:
        RenderResult(image, coc_px, dilated_coc_px, focus_band, extras).

    One line from files: ``lb.render("photo.jpg", depth="d.png", depth_kind="disparity",
    lens=lb.Lens(strength_px=20), focus=lb.Focus.at_pixel(x=100, y=80)).to_pil()``.

    Example:
        >>> import torch
        >>> from lensblur import DepthMap, Focus, Lens, Scene
        >>> scene = Scene(torch.rand(1, 3, 16, 16), DepthMap(torch.rand(1, 1, 16, 16), kind="disparity",
        ...               scale="relative"))
        >>> out = render(scene, lens=Lens(strength_px=4), focus=Focus.at_disparity(0.5))
        >>> out.image.shape, float(out.coc_px.abs().max()) <= 2.0
        (torch.Size([1, 3, 16, 16]), True)
    """
    start = time.perf_counter()
    chosen = renderer is not None
    renderer = DEFAULT_RENDERER if renderer is None else renderer
    if renderer not in RENDERERS:
        raise UnknownNameError.suggest("renderer", renderer, RENDERERS)
    if not isinstance(scene, Scene):
        scene = load_scene(scene, depth, depth_kind=depth_kind, depth_scale=depth_scale)
    elif depth is not None:
        scene = scene.with_depth(as_depth(depth, kind=depth_kind, scale=depth_scale))
    image = check_image(scene.image)
    renderer = _fitting_renderer(image, renderer, chosen, max_memory_gb)
    band = None
    strength = None
    if coc_px is None:
        if lens is None:
            raise InvalidParameterError(
                "render needs lens= (or a precomputed coc_px=); got lens=None. Example: "
                "render(scene, lens=Lens(strength_px=20), focus=Focus.at_pixel(x=100, y=80)).")
        coc_px, band, strength = blur_map(scene, lens=lens, focus=focus)
    else:
        check_coc(coc_px, like=image)
        coc_px = coc_px.to(image.device, image.dtype)
    coc_px = limit_radius(coc_px)
    aperture = lens.aperture if lens is not None else CIRCLE
    recovered = None
    if highlights is not None:
        image, recovered = _reconstruct(image, coc_px, scene, highlights, occluding_renderer=renderer == "layered")
    if boost is not None:
        image = boost_highlights(image, coc_px, boost)
    options = {}
    if subject_matte is not None and renderer != "layered" and chosen:
        raise InvalidParameterError(
            f"subject_matte is used by the 'layered' renderer; got renderer={renderer!r}. "
            "Pass " + hint("renderer='layered'", "--renderer layered") + " or drop the matte.")
    if renderer == "layered":
        matte = as_matte(subject_matte) if subject_matte is not None else scene.matte
        if matte is not None:
            options["matte"] = matte
    if neural_weights is not None:
        if renderer not in ("hybrid", "neural"):
            raise InvalidParameterError(
                f"neural_weights is used by the 'hybrid' and 'neural' renderers; got renderer={renderer!r}. "
                "Pass renderer='hybrid' or drop neural_weights.")
        from .hybrid import load_nets

        options["nets"] = load_nets(neural_weights)
    result = RENDERERS[renderer](image, coc_px, aperture=aperture, gamma=gamma, backend=backend,
                                 return_dilated=return_dilated, progress=progress, **options)
    extras = dict(result.extras, renderer=renderer, seconds=time.perf_counter() - start)
    if recovered is not None:
        extras["highlights"] = recovered
    if strength is not None:
        extras["strength_px"] = strength
        extras["focus"] = "auto" if focus is None else "given"
    log.info("rendered %s in %.3f s", tuple(image.shape), extras["seconds"])
    return RenderResult(image=result.image, coc_px=coc_px, dilated_coc_px=result.dilated_coc_px,
                        focus_band=band, extras=extras)


class RendererFallbackWarning(UserWarning):
    """The default renderer did not fit in memory; the scatter rendered instead."""


def _fitting_renderer(image: Tensor, renderer: str, chosen: bool, max_memory_gb: float | None) -> str:
    """``renderer`` if its memory estimate fits; the scatter instead when the caller did not choose one."""
    height, width = image.shape[-2], image.shape[-1] * image.shape[0]
    try:
        check_memory(height, width, renderer, max_memory_gb)
    except InvalidParameterError as refused:
        if chosen or renderer == "scatter":
            raise
        check_memory(height, width, "scatter", max_memory_gb)
        warnings.warn(f"{refused} Rendering with the scatter instead (" + hint("renderer='scatter'", "--renderer scatter")
                      + " says so and skips this check).", RendererFallbackWarning, stacklevel=3)
        return "scatter"
    return renderer


def _reconstruct(image: Tensor, coc_px: Tensor, scene: Scene, highlights: Highlights, *,
                 occluding_renderer: bool) -> tuple[Tensor, dict]:
    """Highlight reconstruction with the bit depth of the stored photo; float (HDR) input is left alone."""
    if not isinstance(highlights, Highlights):
        raise InvalidParameterError(
            f"highlights must be a lensblur.Highlights (or None); got {type(highlights).__name__}. "
            "The old threshold-and-gain boost is boost=lensblur.HighlightBoost(...).")
    bits = highlights.bit_depth
    if bits is None:
        bits = getattr(scene.meta, "bit_depth", None)
    if bits not in (8, 16):
        reason = ("the photo is linear float (HDR) input, which clipped nothing" if bits is not None else
                  "the image did not come from a file, so its bit depth is unknown; pass Highlights(bit_depth=8) "
                  "for an 8-bit photo")
        log.info("highlight reconstruction skipped: %s", reason)
        return image, {"blobs": 0, "clipped_px": 0, "max_gain": 0.0, "skipped": reason}
    lossy = highlights.lossy if highlights.lossy is not None else bool(getattr(scene.meta, "lossy", False))
    return reconstruct_highlights(image, coc_px, bit_depth=bits, lossy=lossy, options=highlights,
                                  occluding_renderer=occluding_renderer)

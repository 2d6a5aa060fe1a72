"""BokehMe's hybrid renderer: the classical scatter, fused with the neural renderer by a predicted error map.

Peng et al., CVPR 2022, §3.2 (Fig. 7-9, Eq. 7-9):

1. **Classical**: ``B_c`` from the scatter, and the dilated signed defocus ``S^d``.
2. **Adaptive resizing** (Eq. 7): with ``s = max(1, max|S| / R̂)`` the image and the defocus map are
   downscaled by ``s`` and the defocus divided by ``s``, so ARNet never sees a radius above R̂ = 10 px.
   ARNet gives a low-resolution bokeh image and the error map E (upsampled bilinearly to full size).
3. **Iterative upsampling** (Eq. 8): IUNet doubles the resolution until the full size, guided by the
   image at that size; the defocus is scaled with the resolution and **clipped** to ±R̂, and only where
   the dilated defocus is inside ±R̂ (a Gaussian-softened mask) is IUNet's output used; elsewhere (large
   blur, where bilinear upsampling loses nothing visible) the upsampled previous result stays.
4. **Fusion** (Eq. 9): ``B = (1 - E)·B_c + E·B_n``.

lensblur's shipped networks correct the classical render (``models.bokehme.ARNET_GUIDED``); for them the
default upsampling is "correction": ARNet's low-resolution correction ``B_n - B_c`` is resized and added to
the full-resolution B_c, so B_c's detail survives where the networks change nothing.

The networks work on display-encoded images and BokehMe's γ (trained with γ in [1, 5] on display values).
With ``gamma=None`` (linear light, the default) the bridge is ``display = linear^(1/2.2)`` with γ = 2.2,
which is exactly how the ray-traced training data encodes it (BokehMe's γ = 2.2 benchmark setting); with a
number, the display image is the sRGB-encoded photo and γ is that number (clipped to [1, 5] for the
networks' γ input only), as BokehMe's own code treats a JPEG. Light brighter than white (reconstructed
highlights) is split off: the networks render the image clipped to white and the classical scatter spreads
the excess in linear light, added on top (exact for the scatter, which is linear in the image).

Large photos are processed in tiles (``HybridOptions.tile_px``) with a halo wider than the networks'
receptive field, so a tiled result equals the untiled one.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from .._checks import check_coc, check_image
from ..errors import InvalidParameterError, WeightsUnavailableError, hint
from ..io.colour import srgb_decode, srgb_encode
from ..models.bokehme import DEFOCUS_UNIT_PX, GAMMA_RANGE, BokehMeNets
from ..types import CIRCLE, Aperture, RenderResult
from .classical.scatter import _check_gamma, scatter_blur, scatter_encoded

__all__ = ["DISPLAY_GAMMA", "DEFAULT_WEIGHTS", "HybridOptions", "default_nets", "load_nets", "neural_bokeh",
           "fuse", "soft_mask", "HybridParts", "render_display", "hybrid_blur", "neural_blur"]

DISPLAY_GAMMA = 2.2
DEFAULT_WEIGHTS = Path(__file__).resolve().parents[1] / "models" / "weights" / "bokehme-lensblur-synth.safetensors"
_RECEPTIVE_HALO_PX = 32  # 8 convs at half resolution reach 16 full-resolution px; twice that, even


@dataclass(frozen=True)
class HybridOptions:
    """Switches of the neural renderer (BokehMe Table 3 ablations) and its memory bound.

    Attributes:
        max_radius_px: R̂, the largest blur radius the networks are asked to render (10 at inference).
        upsampling: "iterative" (IUNet, the paper), "bilinear" (ARNet's output resized directly),
            "correction" (networks that correct B_c: ARNet's correction ``B_n - B_c`` at low resolution is
            resized and added to the full-resolution B_c, which keeps its detail) or "auto" (the default:
            "correction" for such networks, else "iterative").
        clip_defocus: clip the scaled defocus to ±R̂ before IUNet (the paper) or feed it unclipped.
        mask_from: where IUNet's output is trusted: |dilated defocus| < R̂ ("dilated", the paper) or
            |defocus| < R̂ ("defocus").
        tile_px: the networks run on tiles of at most this side (plus a halo); 0 = whole image.
    """

    max_radius_px: float = 10.0
    upsampling: Literal["auto", "iterative", "bilinear", "correction"] = "auto"
    clip_defocus: bool = True
    mask_from: Literal["dilated", "defocus"] = "dilated"
    tile_px: int = 1024

    def __post_init__(self) -> None:
        if not (isinstance(self.max_radius_px, (int, float)) and 1 <= self.max_radius_px <= 64):
            raise InvalidParameterError(f"HybridOptions.max_radius_px must be in [1, 64] px; got {self.max_radius_px!r}")
        if self.upsampling not in ("auto", "iterative", "bilinear", "correction"):
            raise InvalidParameterError(f"HybridOptions.upsampling must be 'auto', 'iterative', 'bilinear' or "
                                        f"'correction'; got {self.upsampling!r}")
        if self.mask_from not in ("dilated", "defocus"):
            raise InvalidParameterError(f"HybridOptions.mask_from must be 'dilated' or 'defocus'; got {self.mask_from!r}")
        if not isinstance(self.tile_px, int) or (self.tile_px != 0 and self.tile_px < 128):
            raise InvalidParameterError(f"HybridOptions.tile_px must be 0 (no tiling) or >= 128; got {self.tile_px!r}")


# -- weights -------------------------------------------------------------------------------------------

def load_nets(path: str | Path) -> BokehMeNets:
    """Weights from a ``.safetensors`` file (``BokehMeNets.save``) or a folder with the official
    ``arnet.pth`` and ``iunet.pth``."""
    from ..models.bokehme import load_official_checkpoint

    path = Path(path)
    if path.is_dir():
        return load_official_checkpoint(path / "arnet.pth", path / "iunet.pth").eval()
    return BokehMeNets.load(path).eval()


@functools.lru_cache(maxsize=1)
def default_nets() -> BokehMeNets:
    """The weights shipped with lensblur (trained on its own ray-traced scenes; see the model card)."""
    if not DEFAULT_WEIGHTS.exists():
        raise WeightsUnavailableError(
            f"the shipped BokehMe weights are missing ({DEFAULT_WEIGHTS}); reinstall lensblur, or pass your own "
            + hint("(render(..., neural_weights=PATH))", "(--neural-weights PATH)") + ".")
    nets = BokehMeNets.load(DEFAULT_WEIGHTS).eval()
    for p in nets.parameters():
        p.requires_grad_(False)
    return nets


# -- building blocks shared with training -----------------------------------------------------------------

def resize(x: Tensor, size: tuple[int, int]) -> Tensor:
    """Bilinear resize; area-correct (antialiased) when shrinking."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    shrink = size[0] < x.shape[-2] or size[1] < x.shape[-1]
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=shrink)


def soft_mask(inside: Tensor) -> Tensor:
    """BokehMe's mask softening: a Gaussian of radius ``round(0.005·(H + W))``, σ = 0.3·(r - 1) + 0.8,
    replicate padding."""
    height, width = inside.shape[-2:]
    radius = int(round(0.005 * (height + width)))
    mask = inside.to(torch.float32)
    if radius < 1:
        return mask
    sigma = 0.3 * (radius - 1) + 0.8
    taps = torch.arange(-radius, radius + 1, dtype=torch.float32, device=inside.device)
    kernel = torch.exp(-0.5 * (taps / sigma) ** 2)
    kernel = kernel / kernel.sum()
    mask = F.pad(mask, (radius, radius, radius, radius), mode="replicate")
    mask = F.conv2d(mask, kernel.view(1, 1, 1, -1))
    return F.conv2d(mask, kernel.view(1, 1, -1, 1))


def fuse(classical: Tensor, neural: Tensor, error: Tensor) -> Tensor:
    """Eq. 9: ``(1 - E)·B_classical + E·B_neural``."""
    return classical + error * (neural - classical)


def _tiled(fn, full: Tensor, half: Tensor | None, tile_px: int) -> Tensor:
    """Run ``fn(full_tile, half_tile)`` over even-aligned tiles with a halo; identical to ``fn(full, half)``."""
    height, width = full.shape[-2:]
    if tile_px == 0 or (height <= tile_px and width <= tile_px):
        return fn(full, half)
    halo = _RECEPTIVE_HALO_PX
    out = None
    for y0 in range(0, height, tile_px):
        for x0 in range(0, width, tile_px):
            y1, x1 = min(height, y0 + tile_px), min(width, x0 + tile_px)
            ya, xa = max(0, y0 - halo), max(0, x0 - halo)
            yb, xb = min(height, y1 + halo), min(width, x1 + halo)
            half_tile = None if half is None else half[..., ya // 2:(yb + 1) // 2, xa // 2:(xb + 1) // 2]
            piece = fn(full[..., ya:yb, xa:xb], half_tile)
            if out is None:
                out = full.new_empty(full.shape[0], piece.shape[1], height, width)
            out[..., y0:y1, x0:x1] = piece[..., y0 - ya:y1 - ya, x0 - xa:x1 - xa]
    return out


def _scale_sizes(height: int, width: int, scale: float) -> list[tuple[tuple[int, int], float]]:
    """``(size, ratio to full)`` visited: 1/s, then x2 per IUNet iteration (Eq. 8), ending at full size."""
    steps = [((max(2, round(height / scale)), max(2, round(width / scale))), 1.0 / scale)]
    k = 1
    while 2 ** k / scale < 1 - 1e-6:
        ratio = 2 ** k / scale
        steps.append(((math.floor(height * ratio), math.floor(width * ratio)), ratio))
        k += 1
    if steps[-1][0] != (height, width):
        steps.append(((height, width), 1.0))
    return steps


def neural_bokeh(nets: BokehMeNets, display: Tensor, coc_px: Tensor, dilated_px: Tensor | None,
                 gamma_bokehme: float, options: HybridOptions = HybridOptions(),
                 classical: Tensor | None = None) -> tuple[Tensor, Tensor, dict]:
    """The neural renderer: ``(bokeh (B, 3, H, W) display, error map E (B, 1, H, W) in [0, 1], info)``.

    Args:
        nets: ARNet + IUNet.
        display: ``(B, 3, H, W)`` display-encoded image in [0, 1].
        coc_px: ``(B, 1, H, W)`` signed blur radius S in px.
        dilated_px: the dilated signed defocus S^d in px (needed for ``mask_from="dilated"``).
        gamma_bokehme: BokehMe's γ on display values (clipped to [1, 5]).
        classical: the display classical render B_c (needed by networks that take it, ``nets.needs_classical``).
    """
    height, width = display.shape[-2:]
    gamma = min(max(gamma_bokehme, GAMMA_RANGE[0]), GAMMA_RANGE[1])
    limit = options.max_radius_px / DEFOCUS_UNIT_PX
    defocus = coc_px / DEFOCUS_UNIT_PX
    if options.mask_from == "dilated" and dilated_px is None:
        raise InvalidParameterError("neural_bokeh with mask_from='dilated' needs dilated_px (scatter_blur(..., "
                                    "return_dilated=True).dilated_coc_px); got None")
    guide = dilated_px / DEFOCUS_UNIT_PX if options.mask_from == "dilated" else defocus
    scale = max(1.0, float(defocus.abs().max()) / limit)
    steps = _scale_sizes(height, width, scale)
    tile = options.tile_px

    size0 = steps[0][0]
    image0 = resize(display, size0)
    defocus0 = resize(defocus, size0) / scale
    mode = options.upsampling
    if mode == "auto":
        mode = "correction" if nets.needs_classical else "iterative"
    if mode == "correction" and not nets.needs_classical:
        raise InvalidParameterError("HybridOptions(upsampling='correction') needs networks that correct the classical "
                                    "render (ARNET_GUIDED); use 'iterative' or 'bilinear' for these")
    if nets.needs_classical and classical is None:
        raise InvalidParameterError("these networks take the classical render: pass neural_bokeh(..., classical=B_c) "
                                    "(render_display does); got None")
    classical0 = resize(classical, size0) if nets.needs_classical else None
    inputs = [image0, defocus0] + ([classical0] if nets.needs_classical else [])
    out = _tiled(lambda f, _: torch.cat(nets.adaptive(f[:, :3], f[:, 3:4], gamma,
                                                      f[:, 4:7] if nets.needs_classical else None), 1),
                 torch.cat(inputs, 1), None, tile)
    bokeh, error = out[:, :3].clamp(0, 1e5), torch.sigmoid(out[:, 3:])
    error = F.interpolate(error, size=(height, width), mode="bilinear", align_corners=True)
    info = {"scale": scale, "sizes": [size for size, _ in steps], "masks": [], "upsampling": mode}
    if mode == "correction":
        if len(steps) > 1:
            correction = bokeh - classical0
            bokeh = classical + F.interpolate(correction, size=(height, width), mode="bilinear", align_corners=False)
            info["sizes"] = [size0, (height, width)]
        return bokeh.clamp_min(0), error, info
    for size, ratio in steps[1:]:
        up = F.interpolate(bokeh, size=size, mode="bilinear", align_corners=False)
        if mode == "bilinear":
            bokeh = up
            continue
        defocus_k = resize(defocus, size) * ratio
        if options.clip_defocus:
            defocus_k = defocus_k.clamp(-limit, limit)
        mask = soft_mask(resize(guide, size).abs() * ratio < limit)
        half = F.interpolate(bokeh, size=((size[0] + 1) // 2, (size[1] + 1) // 2), mode="bilinear",
                             align_corners=False)
        refined = _tiled(lambda f, h: nets.upsample(f[:, :3], f[:, 3:], h, gamma),
                         torch.cat([resize(display, size), defocus_k], 1), half, tile).clamp_min(0)
        bokeh = mask * refined + (1 - mask) * up
        info["masks"].append(float(mask.mean()))
    return bokeh, error, info


# -- the registry entries -----------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class HybridParts:
    """Everything the hybrid renderer computes, display-encoded: the fused result, the classical and
    neural images, the error map E, the dilated defocus (px) and the neural renderer's scale steps."""

    fused: Tensor
    classical: Tensor
    neural: Tensor
    error: Tensor
    dilated_px: Tensor
    info: dict


def render_display(display: Tensor, coc_px: Tensor, *, gamma_bokehme: float = 2.2, aperture: Aperture = CIRCLE,
                   backend: str = "auto", nets: BokehMeNets | None = None,
                   options: HybridOptions = HybridOptions(), progress: bool = False) -> HybridParts:
    """The hybrid renderer in BokehMe's own terms: a display-encoded ``(B, 3, H, W)`` image in [0, 1] and γ
    applied to display values (the classical part renders ``scatter(I^γ)^(1/γ)``)."""
    check_image(display)
    check_coc(coc_px, like=display)
    nets = default_nets() if nets is None else nets
    classical = scatter_encoded(display, coc_px, aperture=aperture, gamma=float(gamma_bokehme), backend=backend,
                                return_dilated=True, progress="hybrid: classical part" if progress else False)
    device = display.device
    nets = nets.to(device)
    dilated = classical.dilated_coc_px.to(device)
    with torch.inference_mode():
        classical_image = classical.image.clamp(0, 1).to(device)
        neural, error, info = neural_bokeh(nets, display.clamp(0, 1), coc_px.to(device), dilated,
                                           float(gamma_bokehme), options, classical_image)
        fused = fuse(classical_image, neural, error).clamp(0, 1)
    info["backend"] = classical.extras["backend"]
    return HybridParts(fused, classical_image, neural.clamp(0, 1), error, dilated, info)


def _render(image: Tensor, coc_px: Tensor, *, aperture: Aperture, gamma: float | None, backend: str,
            return_dilated: bool, progress: bool, nets: BokehMeNets | None, options: HybridOptions,
            neural_only: bool) -> RenderResult:
    check_image(image)
    _check_gamma(gamma)
    excess = (image - 1.0).clamp_min(0)
    if bool((excess > 0).any()):  # light brighter than white (reconstructed highlights): see _render's note
        image = image.clamp(max=1.0)
    else:
        excess = None
    if gamma is None:  # linear light: BokehMe's γ = 2.2 on linear^(1/2.2), exactly how the training data encodes it
        display, gamma_bokehme = image.clamp_min(0) ** (1 / DISPLAY_GAMMA), DISPLAY_GAMMA
    else:  # BokehMe's γ on the sRGB-encoded photo, as BokehMe's code sees a JPEG
        display, gamma_bokehme = srgb_encode(image), float(gamma)
    parts = render_display(display, coc_px, gamma_bokehme=gamma_bokehme, aperture=aperture,
                           backend=backend, nets=nets, options=options, progress=progress)
    out = parts.neural if neural_only else parts.fused
    out = out ** DISPLAY_GAMMA if gamma is None else srgb_decode(out)
    if excess is not None:
        # The networks see display values in [0, 1]. The energy above white is spread by the classical
        # scatter in linear light, which is linear in the image for a fixed blur map, so with gamma=None
        # the hybrid gains exactly what the scatter gains from the same highlights.
        out = out + scatter_blur(excess, coc_px, aperture=aperture, backend=backend).image
    extras = {"backend": parts.info["backend"], "gamma": gamma, "aperture": aperture.name,
              "error_map": parts.error, "neural_display": parts.neural, "scale": parts.info["scale"],
              "resolutions": parts.info["sizes"]}
    return RenderResult(image=out, coc_px=coc_px,
                        dilated_coc_px=parts.dilated_px if return_dilated else None, extras=extras)


def hybrid_blur(image: Tensor, coc_px: Tensor, *, aperture: Aperture = CIRCLE, gamma: float | None = None,
                backend: str = "auto", return_dilated: bool = False, progress: bool = False,
                nets: BokehMeNets | None = None, options: HybridOptions = HybridOptions()) -> RenderResult:
    """BokehMe's hybrid renderer: the classical scatter where it is right, the neural one at depth edges.

    Same arguments as :func:`scatter_blur` (``backend`` picks the scatter's kernel; the networks run on
    the image's device), plus ``nets`` (default: the shipped weights) and ``options``. The result's
    ``extras`` hold the error map E (``"error_map"``, display-space fusion weight of the neural result) and
    the neural image.

    Example:
        >>> img = torch.rand(1, 3, 32, 32)
        >>> out = hybrid_blur(img, torch.zeros(1, 1, 32, 32)).image
        >>> out.shape
        torch.Size([1, 3, 32, 32])
    """
    return _render(image, coc_px, aperture=aperture, gamma=gamma, backend=backend, return_dilated=return_dilated,
                   progress=progress, nets=nets, options=options, neural_only=False)


def neural_blur(image: Tensor, coc_px: Tensor, *, aperture: Aperture = CIRCLE, gamma: float | None = None,
                backend: str = "auto", return_dilated: bool = False, progress: bool = False,
                nets: BokehMeNets | None = None, options: HybridOptions = HybridOptions()) -> RenderResult:
    """The neural renderer alone (ARNet + IUNet; circular bokeh only). Arguments as :func:`hybrid_blur`."""
    return _render(image, coc_px, aperture=aperture, gamma=gamma, backend=backend, return_dilated=return_dilated,
                   progress=progress, nets=nets, options=options, neural_only=True)

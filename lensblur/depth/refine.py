"""Edge-aware refinement of disparity with the photo as guide: depth edges moved onto image edges.

Two methods: "learned" (default), the small U-Net of ``depth.refine_net`` with shipped weights, which also
restores structures thinner than the coarse map's pixels; and "guided", described here:

The colour guided filter (He, Sun and Tang, ECCV 2010 / TPAMI 2013): in every (2r+1)^2 window the output
is an affine function of the guide's RGB, ``q = a·I + b``, fitted to the input disparity by ridge
regression (``eps`` regularises a). Where a window straddles an object boundary the fitted q follows
the photo's step instead of the blurry or misplaced step of an estimated or low-resolution disparity,
so the blur map's edges land on the subject's outline (fewer halos). Low-resolution disparity is first
upsampled bilinearly to the photo. Works on the sRGB-encoded photo (edges as seen), in torch, O(N)
via box filters computed with running sums.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from ..errors import InvalidParameterError, hint
from ..io.images import linear_to_srgb
from ..types import DepthMap
from .convert import fill_holes
from .refine_net import PRECISIONS, SHIPPED_REFINER, VIEW_COUNTS, RefineNet

__all__ = ["METHODS", "WORK_PX", "guided_filter", "joint_bilateral_upsample", "refine_depth"]

_LEVELS = 33  # disparity levels of the cost volume (1/32 of the range apart)
# A working resolution for the learned refiner on large photos (refine_depth(work_px=...), CLI --refine-max-mp):
# refined there, brought back with joint bilateral upsampling guided by the full photo. Measured
# (benchmarks/bench_depth_refinement.py): 12 MP in 1.7 s (bfloat16) / 8.5 s (float32), but 1.5 dB lower in the
# depth-edge band than full resolution on the Motorcycle enlarged to 1.5 MP, so full resolution stays the default
# (12 MP in about 7 s in bfloat16 on a CPU with AMX; docs/depth.md).
WORK_PX = 700_000


def _box(x: torch.Tensor, r: int) -> torch.Tensor:
    """Mean over (2r+1)^2 windows, windows clipped at the border (normalised by their true size).

    Running sums along rows, then columns: O(1) per pixel whatever the radius.
    """
    k = 2 * r + 1

    def window_sum(t: torch.Tensor) -> torch.Tensor:
        c = F.pad(t, (r + 1, r, 0, 0)).cumsum(-1)
        t = c[..., k:] - c[..., :-k]
        c = F.pad(t, (0, 0, r + 1, r)).cumsum(-2)
        return c[..., k:, :] - c[..., :-k, :]

    return window_sum(x) / window_sum(torch.ones_like(x[:, :1]))


def guided_filter(guide: torch.Tensor, source: torch.Tensor, radius_px: int, eps: float) -> torch.Tensor:
    """Colour guided filter of every channel of ``source`` (B, C, H, W) by ``guide`` (B, 3, H, W)."""
    b, _, h, w = guide.shape
    c = source.shape[1]
    r = radius_px
    mean_i = _box(guide, r)                                                     # (B, 3, H, W)
    mean_p = _box(source, r)                                                    # (B, C, H, W)
    cross = (guide.unsqueeze(2) * source.unsqueeze(1)).reshape(b, 3 * c, h, w)
    cov_ip = _box(cross, r).reshape(b, 3, c, h, w) - mean_i.unsqueeze(2) * mean_p.unsqueeze(1)
    gi = guide.unsqueeze(2) * guide.unsqueeze(1)                                # (B, 3, 3, H, W)
    var_i = _box(gi.reshape(b, 9, h, w), r).reshape(b, 3, 3, h, w) - mean_i.unsqueeze(2) * mean_i.unsqueeze(1)
    var_i = var_i + eps * torch.eye(3, dtype=guide.dtype, device=guide.device).view(1, 3, 3, 1, 1)
    a = torch.linalg.solve(var_i.permute(0, 3, 4, 1, 2), cov_ip.permute(0, 3, 4, 1, 2))  # (B, H, W, 3, C)
    a = a.permute(0, 3, 4, 1, 2)                                                # (B, 3, C, H, W)
    bias = mean_p - (a * mean_i.unsqueeze(2)).sum(1)
    mean_a = _box(a.reshape(b, 3 * c, h, w), r).reshape(b, 3, c, h, w)
    return (mean_a * guide.unsqueeze(2)).sum(1) + _box(bias, r)


def joint_bilateral_upsample(low: torch.Tensor, guide: torch.Tensor, *, radius: int = 1,
                             sigma_spatial: float = 0.75, sigma_colour: float = 0.08) -> torch.Tensor:
    """Upsample ``low`` (B, C, h, w) to ``guide``'s size (B, 3, H, W) with the guide's edges (Kopf et al. 2007).

    Each output pixel averages the low-resolution samples within ``radius`` low-resolution pixels of it,
    weighted by their distance (Gaussian, ``sigma_spatial`` low-res px) and by how close the guide's colour at
    the sample (the guide area-averaged to the low resolution) is to the guide's colour at the pixel
    (Gaussian, ``sigma_colour`` on display values, plus a floor of 1e-4 so that a pixel whose colour matches no
    sample falls back to the spatial average). Across a colour edge the weights select the samples on the
    pixel's own side, so a depth step lands on the photo's edge instead of becoming a ramp.

    Example:
        >>> flat = torch.full((1, 1, 4, 4), 0.3)
        >>> float(joint_bilateral_upsample(flat, torch.rand(1, 3, 16, 16)).sub(0.3).abs().max()) < 1e-6
        True
    """
    height, width = guide.shape[-2:]
    h, w = low.shape[-2:]
    guide_low = F.interpolate(guide, size=(h, w), mode="area")
    ys = (torch.arange(height, dtype=torch.float32) + 0.5) * h / height - 0.5
    xs = (torch.arange(width, dtype=torch.float32) + 0.5) * w / width - 0.5
    y0, x0 = ys.round().long(), xs.round().long()
    total = torch.zeros(low.shape[0], low.shape[1], height, width)
    weights = torch.zeros(low.shape[0], 1, height, width)
    for dy in range(-radius, radius + 1):
        yi = (y0 + dy).clamp(0, h - 1)
        wy = torch.exp(-((ys - yi) ** 2) / (2 * sigma_spatial ** 2))
        for dx in range(-radius, radius + 1):
            xi = (x0 + dx).clamp(0, w - 1)
            wx = torch.exp(-((xs - xi) ** 2) / (2 * sigma_spatial ** 2))
            sample = guide_low[:, :, yi][:, :, :, xi]
            # + 1e-4: a pixel whose colour matches no sample (noise, a thin highlight) gets the spatial average
            # instead of 0/0
            weight = torch.exp(-((guide - sample) ** 2).sum(1, keepdim=True) / (2 * sigma_colour ** 2)) + 1e-4
            weight = weight * (wy[:, None] * wx[None, :])
            total += weight * low[:, :, yi][:, :, :, xi]
            weights += weight
    return total / weights.clamp_min(1e-12)


METHODS = ("learned", "guided")


def refine_depth(depth: DepthMap, image: torch.Tensor, *, method: str = "learned", radius_px: int | None = None,
                 eps: float = 1e-3, weights: str | Path | None = None, views: int = 1,
                 work_px: int | None = None, precision: str = "auto") -> DepthMap:
    """Upsample ``depth`` to ``image`` and move its edges onto the photo's edges.

    Args:
        depth: a disparity (or depth) map at any resolution with the photo's aspect ratio.
        image: the photo, ``(1, 3, H, W)`` linear RGB.
        method: "learned" (default): the small U-Net of ``depth.refine_net`` with the weights shipped in the
            package (or ``weights``); it also restores structures thinner than the coarse map's pixels.
            "guided": cost-volume filtering with a colour guided filter, no learned parameters.
        radius_px: ("guided") window radius in photo pixels; default: twice the upsampling factor, at
            least 4 (a window must reach across the blurry band of an upsampled edge).
        eps: ("guided") regularisation of the local fit on the guide's sRGB values; smaller follows image
            edges more closely (and texture too).
        weights: ("learned") a refiner weights file instead of the shipped one.
        views: ("learned") average the refiner over 1, 2, 4 or 8 mirrored / turned views of the photo
            (test-time augmentation): steadier thin structures for ``views`` times the time.
        work_px: ("learned") refine photos larger than this many pixels at that size and upsample the result
            with the photo as guide (:func:`joint_bilateral_upsample`): much faster on large photos, less exact
            at thin structures (``WORK_PX`` = 0.7 MP: 12 MP in 1.7 s with bfloat16, 8.5 s in float32; -1.5 dB
            in the edge band on the measured case). None (default) refines at full resolution.
        precision: ("learned") "auto" (default): bfloat16 convolutions on a CPU with bfloat16 matrix units
            (Intel AMX; about 3x faster, renders within 0.04 dB of float32 on the refinement benchmark),
            float32 elsewhere; "float32" or "bfloat16" to choose.

    Returns:
        The refined map at the photo's size, same kind and scale, ``source`` suffixed with "+learned" or
        "+guided".
    """
    if not (isinstance(image, torch.Tensor) and image.ndim == 4 and image.shape[:2] == (1, 3)):
        raise InvalidParameterError("image must be a (1, 3, H, W) linear RGB tensor")
    if method not in METHODS:
        raise InvalidParameterError(f"method must be one of {METHODS}; got {method!r}")
    if not eps > 0:
        raise InvalidParameterError(f"eps must be > 0; got {eps!r}")
    if views not in VIEW_COUNTS:
        raise InvalidParameterError(f"views must be 1, 2, 4 or 8; got {views!r}")
    if views != 1 and method != "learned":
        raise InvalidParameterError(f"{hint('views', '--refine-views')} averages the learned refiner; with "
                                    f"{hint(f'method={method!r}', f'--refine-method {method}')} leave it at 1")
    if not bool(torch.isfinite(depth.values).all()):
        depth = fill_holes(depth)
    height, width = image.shape[-2:]
    values = depth.values.float()
    if work_px is not None and not (isinstance(work_px, int) and work_px >= 4096):
        raise InvalidParameterError(f"work_px must be None or an integer >= 4096 pixels; got {work_px!r}")
    if precision not in PRECISIONS:
        raise InvalidParameterError(f"precision must be one of {PRECISIONS}; got {precision!r}")
    if precision != "auto" and method != "learned":
        raise InvalidParameterError(f"{hint('precision', '--refine-precision')} sets the learned refiner's "
                                    f"arithmetic; with {hint(f'method={method!r}', f'--refine-method {method}')} "
                                    "leave it at 'auto'")
    if method == "learned":
        return _refine_learned(depth, image, weights, views, work_px, precision)
    factor = max(height / values.shape[-2], width / values.shape[-1])
    r = radius_px if radius_px is not None else max(4, int(round(2 * factor)))
    if not (isinstance(r, int) and r >= 1):
        raise InvalidParameterError(f"radius_px must be an integer >= 1; got {radius_px!r}")
    up = F.interpolate(values, size=(height, width), mode="bilinear", align_corners=False)
    guide = linear_to_srgb(image.float().clamp(0, 1))
    lo, hi = float(up.amin()), float(up.amax())
    span = hi - lo if hi > lo else 1.0
    normalised = ((up - lo) / span).float()
    # cost-volume filtering (Hosni et al. 2013): soft-assign each pixel to disparity levels, filter every
    # level with the guide, and keep the winning level per pixel. Unlike filtering the disparity itself
    # this selects values instead of averaging them, so a refined edge is a step, not a ramp.
    levels = torch.linspace(0.0, 1.0, _LEVELS, dtype=torch.float32)
    step = 1.0 / (_LEVELS - 1)
    votes = (1.0 - (normalised - levels.view(1, -1, 1, 1)).abs() / step).clamp(min=0.0)  # linear interpolation
    scores = guided_filter(guide, votes, r, eps)
    best = scores.argmax(1, keepdim=True)
    # sub-level precision: the score-weighted mean of the winner and its two neighbours
    index = torch.cat([(best - 1).clamp(min=0), best, (best + 1).clamp(max=_LEVELS - 1)], 1)
    weight = scores.gather(1, index).clamp(min=0.0) + 1e-12
    refined = (levels[index] * weight).sum(1, keepdim=True) / weight.sum(1, keepdim=True)
    refined = (refined.float() * span + lo).clamp(lo, hi)
    return DepthMap(values=refined, kind=depth.kind, scale=depth.scale, source=f"{depth.source}+guided")


_NETS: dict[tuple[str, float], object] = {}


def _refine_learned(depth: DepthMap, image: torch.Tensor, weights, views: int, work_px: int | None,
                    precision: str) -> DepthMap:
    """The learned refiner on the photo's display encoding, on the photo's device; the network is loaded once
    per weights file."""
    path = Path(weights or SHIPPED_REFINER)
    key = (str(path), path.stat().st_mtime if path.exists() else 0.0)  # a rewritten file is read again
    if key not in _NETS:
        _NETS[key] = RefineNet.load(path)
    net = _NETS[key].to(image.device)
    height, width = image.shape[-2:]
    # the network knows near things as disparity peaks: depth maps are refined as 1/depth and turned back
    disparity = depth.to_disparity().values.float()
    up = F.interpolate(disparity, size=(height, width), mode="bilinear", align_corners=False)
    guide = linear_to_srgb(image.float().clamp(0, 1))
    # the photo as a camera stores it: the refiner was trained on 8-bit display values
    guide = torch.round(guide * 255.0) / 255.0
    if work_px is not None and height * width > work_px:  # a working resolution, then back with the photo's edges
        scale = (height * width / work_px) ** 0.5
        size = (max(8, round(height / scale)), max(8, round(width / scale)))
        small_guide = torch.round(F.interpolate(guide, size=size, mode="area") * 255.0) / 255.0
        small = net.refine(small_guide, F.interpolate(disparity, size=size, mode="bilinear", align_corners=False),
                           views=views, precision=precision)
        refined = joint_bilateral_upsample(small, guide)
    else:
        refined = net.refine(guide, up, views=views, precision=precision)
    # within the coarse map's range widened by a quarter: thin peaks that the coarse map averaged away come
    # back, nothing is invented far outside it, and a positive map stays positive
    lo, hi = float(up.amin()), float(up.amax())
    floor = lo - 0.25 * (hi - lo)
    if lo > 0:
        floor = max(floor, 0.5 * lo)
    refined = refined.clamp(floor, hi + 0.25 * (hi - lo))
    if depth.kind == "depth":
        refined = 1.0 / refined
    return DepthMap(values=refined, kind=depth.kind, scale=depth.scale, source=f"{depth.source}+learned")

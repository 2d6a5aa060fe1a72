"""Scoring the learned renderers (MPFN, depth-aware blending) on EBB!-layout pairs.

Protocol (documented in the README):

* each pair is run at full resolution through the model's own inference protocol — MPFN on the whole
  frame (reflect-padded to a multiple of 8, the coordinate map of the real frame); depth-aware blending
  resized to its training size and back (Dutta §5.1);
* prediction and target are display-encoded RGB in [0, 1], cropped to their common region (PyNET's rule
  for the few pairs whose sizes differ), and scored with PSNR (peak 1), SSIM (Wang et al., 11x11 Gaussian,
  per channel) and LPIPS-Alex when its weights are available;
* for MPFN also PSNR in the focused and bokeh regions (Table IX), split by its own salient mask 1 − Z_s;
* PyNET-bokeh on the photo halved plus its depth map (the dataset's ``depth``: normalised disparity,
  1 = near), its level-1 output at full size; Glass-Net resized to 1024 rows (width a multiple of 8) and
  back, as BGGAN's paper runs it;
* ``border_px`` crops that many pixels off every side before scoring (PyNET's EBB! protocol: 32).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from ..errors import InvalidParameterError
from ..models.bggan import GlassNet, glassnet_render, load_glassnet
from ..models.depth_blend import DepthAwareBlend, depth_blend_render
from ..models.mpfn import MPFN, mpfn_render
from ..models.pynet import PyNETBokeh, pynet_render
from .metrics import masked_psnr, psnr, ssim
from .protocols import ebb_pair

__all__ = ["LEARNED_MODELS", "load_learned", "predict", "evaluate_pairs", "learned_table"]

LEARNED_MODELS = ("mpfn", "depth-blend", "pynet-bokeh", "bggan")

LearnedModel = MPFN | DepthAwareBlend | PyNETBokeh | GlassNet


def load_learned(name: str, weights: str | Path) -> LearnedModel:
    """Weights written by the training loop (``model.safetensors``) or ``save()``; for ``bggan`` the
    generator (Glass-Net) of a training run or of a Glass-Net file."""
    if name == "mpfn":
        return MPFN.load(weights).eval()
    if name == "depth-blend":
        return DepthAwareBlend.load(weights).eval()
    if name == "pynet-bokeh":
        return PyNETBokeh.load(weights).eval()
    if name == "bggan":
        return load_glassnet(weights).eval()
    raise InvalidParameterError(f"unknown learned model {name!r}; choose one of {LEARNED_MODELS}")


def predict(model: LearnedModel, image: torch.Tensor,
            depth: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``(bokeh, salient mask or None)`` for display RGB ``image (B, 3, H, W)`` by the model's own inference
    protocol; ``depth (B, 1, h, w)`` (normalised disparity) is needed by a PyNET trained with depth."""
    if isinstance(model, MPFN):
        return mpfn_render(model, image, with_mask=True)
    if isinstance(model, PyNETBokeh):
        return pynet_render(model, image, depth), None
    if isinstance(model, GlassNet):
        return glassnet_render(model, image), None
    return depth_blend_render(model, image), None


def evaluate_pairs(model: LearnedModel, dataset, *, lpips_model=None, limit: int | None = None,
                   border_px: int = 0, progress: Callable[[int], None] | None = None) -> dict:
    """Score ``model`` on every item of ``dataset`` (an :class:`EBBDataset` without transform, or
    :class:`SyntheticPairs`); returns ``{"per_image": [...], "mean": {...}}``."""
    from .lpips import lpips_distance

    rows = []
    count = len(dataset) if limit is None else min(limit, len(dataset))
    for i in range(count):
        item = dataset[i]
        with torch.no_grad():
            depth = item["depth"][None] if "depth" in item else None
            if isinstance(model, PyNETBokeh) and model.config.depth_input and depth is None:
                raise InvalidParameterError("PyNET-bokeh needs depth maps: give the dataset a depth folder "
                                            "(EBBDataset(depth=...), eval --depth-folder)")
            prediction, mask = predict(model, item["image"][None], depth)
        pred = prediction[0].permute(1, 2, 0).numpy().astype(np.float64)
        target = item["target"].permute(1, 2, 0).numpy().astype(np.float64)
        pred, target = ebb_pair(pred, target)
        if border_px:
            if min(pred.shape[:2]) <= 2 * border_px:
                raise InvalidParameterError(f"border_px {border_px} leaves nothing of a {pred.shape[0]}x"
                                            f"{pred.shape[1]} image; use a smaller border")
            pred = pred[border_px:-border_px, border_px:-border_px]
            target = target[border_px:-border_px, border_px:-border_px]
            if mask is not None:
                mask = mask[..., border_px:, border_px:]
        row = {"index": int(item["index"]), "psnr": psnr(pred, target), "ssim": ssim(pred, target)}
        if lpips_model is not None:
            row["lpips"] = lpips_distance(lpips_model, pred, target)
        if mask is not None:
            focused = mask[0, 0].numpy()[:pred.shape[0], :pred.shape[1]] > 0.5
            row["focused_fraction"] = float(focused.mean())
            row["psnr_focused"] = masked_psnr(pred, target, focused)   # nan when the mask is empty
            row["psnr_bokeh"] = masked_psnr(pred, target, ~focused)
        rows.append(row)
        if progress is not None:
            progress(1)
    keys = [k for k in rows[0] if k != "index"] if rows else []
    mean = {}
    for key in keys:
        values = [r[key] for r in rows if math.isfinite(r[key])]
        mean[key] = float(np.mean(values)) if values else math.nan
    return {"per_image": rows, "mean": mean, "count": len(rows)}


def learned_table(results: dict[str, dict]) -> str:
    """Markdown table of mean metrics per model."""
    columns = ["psnr", "ssim", "lpips", "psnr_focused", "psnr_bokeh", "focused_fraction"]
    present = [c for c in columns if any(c in r["mean"] for r in results.values())]
    head = "| model | images | " + " | ".join(present) + " |"
    rule = "|---|---:|" + "---:|" * len(present)
    lines = [head, rule]
    for name, result in results.items():
        cells = [f"{result['mean'][c]:.4f}" if c in result["mean"] else "–" for c in present]
        lines.append(f"| {name} | {result['count']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)

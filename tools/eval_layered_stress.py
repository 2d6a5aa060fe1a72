"""Layered vs scatter on two scene types the procedural test set has few of: thin strands and slanted planes.

Issue #17 asks for held-out scenes that stress occlusion. Built here from the test split's own textures
(``synth.make_scene(seed, "test")``), ray-traced with exact partial occlusion (``synth.trace_defocus``):

* **thin strands**: a textured background (fronto-parallel or slanted, disparity 0-0.35) behind 25 random
  strands 1-3 px wide (twigs, hair-like) at disparity 0.85; focus on the background (blurred strands before
  a sharp background) and on the strands (sharp strands before a blurred background).
* **slanted plane**: a textured floor rising from disparity 0.2 at the middle of the frame to 0.95 at its
  bottom edge, before a fronto-parallel textured wall at 0.1; focus on the wall, and on the floor's middle.

Each at K 20 and 40 px, 4 seeds, 256x256, γ 2.2, circle, with the true disparity and with the depth-refinement
benchmark's degradation (x4 down, blurred, back up). PSNR (dB) whole image, in the metric's discontinuity band
and off it.

    .venv/bin/python tools/eval_layered_stress.py [--seeds 4] [--out docs/layered_stress.md]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from eval_layered import _degrade  # the 90-case table's degradation (tools/ is on the path)

from lensblur.evaluation.metrics import discontinuity_band, masked_psnr, psnr
from lensblur.render.classical.layered import layered_blur
from lensblur.render.classical.scatter import scatter_blur
from lensblur.synth import make_scene, trace_all_in_focus, trace_defocus
from lensblur.synth.scenes import Layer, LayeredScene

SIZE, GAMMA, STRENGTHS = 256, 2.2, (20.0, 40.0)


def _strands(rng: np.random.Generator, hp: int, wp: int, count: int = 25) -> np.ndarray:
    """Alpha of ``count`` smooth random strands 1-3 px wide, anti-aliased (distance to a sampled curve)."""
    yy, xx = np.mgrid[0:hp, 0:wp].astype(np.float32)
    alpha = np.zeros((hp, wp), np.float32)
    for _ in range(count):
        start = rng.uniform(0, [wp, hp])
        angle = rng.uniform(0, 2 * np.pi)
        bend = rng.uniform(-0.01, 0.01)
        width = rng.uniform(1.0, 3.0)
        points = []
        for _ in range(int(rng.uniform(60, 200))):
            points.append(start.copy())
            start += [np.cos(angle), np.sin(angle)]
            angle += bend
        points = np.array(points, np.float32)
        lo, hi = points.min(0) - width - 1, points.max(0) + width + 2
        x0, y0 = max(0, int(lo[0])), max(0, int(lo[1]))
        x1, y1 = min(wp, int(hi[0])), min(hp, int(hi[1]))
        if x1 <= x0 or y1 <= y0:
            continue
        px, py = xx[y0:y1, x0:x1, None], yy[y0:y1, x0:x1, None]
        distance = np.sqrt((px - points[:, 0]) ** 2 + (py - points[:, 1]) ** 2).min(-1)
        alpha[y0:y1, x0:x1] = np.maximum(alpha[y0:y1, x0:x1], np.clip(width / 2 + 0.5 - distance, 0, 1))
    return alpha


def _scene(kind: str, seed: int, margin: int) -> LayeredScene:
    base = make_scene(seed, "test", SIZE, SIZE, margin=margin, highlights=False)
    background = base.layers[0]
    texture = base.layers[1].rgba.copy()
    hp, wp = texture.shape[:2]
    rng = np.random.default_rng(1000 + seed)
    if kind == "thin strands":
        rgba = texture.copy()
        rgba[..., :3] = rgba[..., :3] * 0.5 + 0.25 * rng.uniform(0.2, 1.0, 3)   # darker, tinted twigs
        rgba[..., 3] = _strands(rng, hp, wp)
        layers = (background, Layer(rgba, (0.85, 0.0, 0.0), "strands"))
    else:
        wall = Layer(background.rgba, (0.1, 0.0, 0.0), "wall")
        rgba = texture.copy()
        rows = np.arange(hp)[:, None] - margin
        rgba[..., 3] = (rows >= SIZE // 2).astype(np.float32).repeat(wp, 1)
        slope = (0.95 - 0.2) / (SIZE / 2)                      # disparity per row
        floor = Layer(rgba, (0.2 - slope * (SIZE // 2), 0.0, slope), "floor")   # the tracer reads planes in image px
        layers = (wall, floor)
    return LayeredScene(layers=layers, height=SIZE, width=SIZE, margin=margin, seed=seed, split="test")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    start = time.perf_counter()
    rows = []
    for kind, focuses in (("thin strands", {"far focus": 0.0, "near focus": 0.85}),
                          ("slanted plane", {"far focus": 0.1, "mid focus": 0.575})):
        for seed in range(args.seeds):
            scene = _scene(kind, seed, margin=int(max(STRENGTHS)) + 4)
            base = trace_all_in_focus(scene, (GAMMA,))
            photo = torch.from_numpy(base.all_in_focus(GAMMA)).permute(2, 0, 1)[None].contiguous()
            for focus_name, focus in focuses.items():
                if kind == "thin strands" and focus_name == "far focus":
                    focus = float(np.quantile(base.disparity, 0.3))   # on the background behind the strands
                for k in STRENGTHS:
                    target = trace_defocus(scene, strength_px=k, focus_disparity=focus, gammas=(GAMMA,)).image(GAMMA)
                    band = discontinuity_band(k * (base.disparity - focus))
                    for variant, disparity in (("true", base.disparity), ("degraded", _degrade(base.disparity))):
                        coc = torch.from_numpy((k * (disparity - focus)).astype(np.float32))[None, None]
                        for name, blur in (("scatter", scatter_blur), ("layered", layered_blur)):
                            out = blur(photo ** GAMMA, coc).image ** (1 / GAMMA)
                            out = out[0].permute(1, 2, 0).numpy().clip(0, 1)
                            rows.append({"kind": kind, "focus": focus_name, "variant": variant, "renderer": name,
                                         "psnr": psnr(out, target), "band": masked_psnr(out, target, band),
                                         "rest": masked_psnr(out, target, ~band)})
    lines = [f"{len(rows) // 4} cases ({args.seeds} seeds x 2 focus settings x K {STRENGTHS} per scene type), "
             f"256x256, γ {GAMMA}, circle; {time.perf_counter() - start:.0f} s on this machine. PSNR in dB.", "",
             "| scene type | focus | depth | scatter PSNR / band / off-band | layered PSNR / band / off-band |",
             "|---|---|---|---|---|"]
    for kind in ("thin strands", "slanted plane"):
        for focus in dict.fromkeys(r["focus"] for r in rows if r["kind"] == kind):
            for variant in ("true", "degraded"):
                cells = []
                for name in ("scatter", "layered"):
                    sel = [r for r in rows if (r["kind"], r["focus"], r["variant"], r["renderer"])
                           == (kind, focus, variant, name)]
                    cells.append(" / ".join(f"{np.nanmean([r[m] for r in sel]):.2f}" for m in ("psnr", "band", "rest")))
                lines.append(f"| {kind} | {focus} | {variant} | {cells[0]} | {cells[1]} |")
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.write_text("# Layered vs scatter on thin strands and slanted planes\n\n" + __doc__.split("\n\n")[1]
                            + "\n\n" + text + "\n")


if __name__ == "__main__":
    main()

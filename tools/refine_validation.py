"""Model selection for the learned depth refiner, on held-out *train*-split seeds (never the test split).

The benchmark's scoring (classical scatter at K = 20, far and near focus, PSNR against the ray tracer in
the depth-edge band; "recovered" = (refined - degraded) / (true - degraded)) on train-split scenes from
seed 5000 on, which the 4,000-scene training cache (seeds 0-3999) never holds. The true disparity is
area-downsampled by ``--factor`` and blurred (σ 1 low-res px). ``--cascade`` also scores refining in two
stages (to 4x the coarse map on a downscaled photo, then to the photo).

    .venv/bin/python tools/refine_validation.py [WEIGHTS ...] [--scenes 12] [--views 1]
    .venv/bin/python tools/refine_validation.py --size 512 --factor 12 --scenes 4 --cascade
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
import torch.nn.functional as F

import lensblur as lb
from lensblur.depth import refine_depth
from lensblur.depth.refine_net import SHIPPED_REFINER, VIEW_COUNTS
from lensblur.evaluation import discontinuity_band, masked_psnr
from lensblur.io.images import srgb_to_linear
from lensblur.synth import make_scene, trace_all_in_focus, trace_defocus
from lensblur.training.depth_refine import degrade_low

K, GAMMA, FIRST_SEED = 20.0, 2.2, 5000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("weights", nargs="*", default=[str(SHIPPED_REFINER)])
    parser.add_argument("--scenes", type=int, default=12)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--factor", type=float, default=4.0)
    parser.add_argument("--views", type=int, choices=VIEW_COUNTS, default=1)
    parser.add_argument("--cascade", action="store_true")
    args = parser.parse_args()
    scores: dict[str, list[float]] = {}
    for seed in range(FIRST_SEED, FIRST_SEED + args.scenes):
        scene = make_scene(seed, "train", args.size, args.size, margin=24)
        base = trace_all_in_focus(scene, (GAMMA,))
        display = torch.from_numpy(base.all_in_focus(GAMMA)).permute(2, 0, 1)[None].contiguous()
        image = srgb_to_linear(display)
        truth = torch.from_numpy(base.disparity)[None, None]
        low = degrade_low(truth, args.factor, 1.0)
        coarse = lb.DepthMap(low, kind="disparity", scale="relative")
        maps = {"true": truth, "degraded": F.interpolate(low, size=truth.shape[-2:], mode="bilinear",
                                                         align_corners=False)}
        for path in args.weights:
            maps[path] = refine_depth(coarse, image, weights=path, views=args.views).values
            if args.cascade:
                middle = F.interpolate(image, size=(low.shape[-2] * 4, low.shape[-1] * 4), mode="area")
                staged = refine_depth(refine_depth(coarse, middle, weights=path), image, weights=path)
                maps[f"{path} (cascade)"] = staged.values
        for q in (0.1, 0.9):
            focus = float(np.quantile(base.disparity, q))
            target = trace_defocus(scene, strength_px=K, focus_disparity=focus, gammas=(GAMMA,)).image(GAMMA)
            band = discontinuity_band(K * (base.disparity - focus))
            for name, disparity in maps.items():
                out = lb.scatter_encoded(display, (K * (disparity - focus)).float().contiguous(), gamma=GAMMA)
                scores.setdefault(name, []).append(
                    masked_psnr(out.image[0].permute(1, 2, 0).numpy().clip(0, 1), target, band))
    mean = {name: float(np.mean(v)) for name, v in scores.items()}
    lost = mean["true"] - mean["degraded"]
    print(f"# refiner validation: train-split seeds {FIRST_SEED}-{FIRST_SEED + args.scenes - 1}, "
          f"{args.size}², x{args.factor:g} + blur σ 1, views {args.views}, K = {K:g}\n")
    print("| disparity | band PSNR (dB) | recovered |")
    print("|---|---:|---:|")
    for name, value in mean.items():
        share = "" if name in ("true", "degraded") else f"{(value - mean['degraded']) / lost:.2f}"
        print(f"| {name} | {value:.2f} | {share} |")


if __name__ == "__main__":
    main()

"""Does edge-aware refinement win back what a degraded disparity map costs the final render?

Issue #5's protocol on the synthetic ground truth: for each test-split scene (256x256) and focus (far
and near quantile), the true disparity is degraded (area-downsampled x4, Gaussian blur sigma 1 px at the
low resolution, bilinear back up), then refined with ``lensblur.depth.refine_depth`` from the low-res map
and the photo. Each map drives the classical scatter (K = 20, γ 2.2); we score PSNR against the
ray-traced image inside the discontinuity band. "recovered" = (refined − degraded) / (true − degraded).
A second table times refine_depth on photo-sized inputs.

    .venv/bin/python benchmarks/bench_depth_refinement.py [--scenes 6]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
import torch.nn.functional as F

import lensblur as lb
from lensblur.depth import refine_depth
from lensblur.evaluation import discontinuity_band, masked_psnr, psnr
from lensblur.io.images import srgb_to_linear
from lensblur.synth import make_scene, trace_all_in_focus, trace_defocus

K, GAMMA, SIZE = 20.0, 2.2, 256


def _degrade(disparity: torch.Tensor) -> torch.Tensor:
    low = F.avg_pool2d(disparity, 4)
    t = torch.arange(-3, 4, dtype=torch.float32)
    g = torch.exp(-t * t / 2)
    g = g / g.sum()
    low = F.conv2d(F.pad(low, (3, 3, 0, 0), mode="replicate"), g.view(1, 1, 1, 7))
    return F.conv2d(F.pad(low, (0, 0, 3, 3), mode="replicate"), g.view(1, 1, 7, 1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=6)
    args = parser.parse_args()
    rows = {"true": [], "degraded": [], "refined": []}
    whole = {"true": [], "degraded": [], "refined": []}
    for seed in range(args.scenes):
        scene = make_scene(seed, "test", SIZE, SIZE, margin=int(K) + 4)
        base = trace_all_in_focus(scene, (GAMMA,))
        display = base.all_in_focus(GAMMA)
        image = torch.from_numpy(display).permute(2, 0, 1)[None].contiguous()
        truth = torch.from_numpy(base.disparity)[None, None]
        low = _degrade(truth)
        maps = {
            "true": truth,
            "degraded": F.interpolate(low, size=(SIZE, SIZE), mode="bilinear", align_corners=False),
            "refined": refine_depth(lb.DepthMap(low, kind="disparity", scale="relative"),
                                    srgb_to_linear(image)).values,
        }
        for q in (0.1, 0.9):
            focus = float(np.quantile(base.disparity, q))
            target = trace_defocus(scene, strength_px=K, focus_disparity=focus, gammas=(GAMMA,)).image(GAMMA)
            band = discontinuity_band(K * (base.disparity - focus))
            for name, disparity in maps.items():
                coc = (K * (disparity - focus)).float().contiguous()
                out = lb.scatter_blur(image, coc, gamma=GAMMA).image[0].permute(1, 2, 0).numpy().clip(0, 1)
                rows[name].append(masked_psnr(out, target, band))
                whole[name].append(psnr(out, target))
    m = {k: float(np.mean(v)) for k, v in rows.items()}
    w = {k: float(np.mean(v)) for k, v in whole.items()}
    print(f"# depth refinement: {args.scenes} test scenes x 2 focus planes, {SIZE}x{SIZE}, K = {K:g}, γ {GAMMA}\n")
    print("| disparity driving the scatter | band PSNR (dB) | whole-image PSNR (dB) |")
    print("|---|---|---|")
    for name in rows:
        print(f"| {name} | {m[name]:.2f} | {w[name]:.2f} |")
    lost = m["true"] - m["degraded"]
    print(f"\nrecovered: {(m['refined'] - m['degraded']) / lost:.2f} of the {lost:.2f} dB band PSNR the degradation cost")
    _timing()


def _timing(repeats: int = 3) -> None:
    """Cost of refine_depth on photo-sized inputs (x4 upsampling), median of ``repeats`` after a warm-up,
    against bilinear upsampling measured in the same run."""
    import statistics
    import time

    print("\n| photo | ×4 map | refine_depth (s) | bilinear upsampling (s) |")
    print("|---|---|---|---|")
    for height, width in ((768, 1024), (1536, 2048)):
        image = torch.rand(1, 3, height, width)
        low = lb.DepthMap(torch.rand(1, 1, height // 4, width // 4), kind="disparity", scale="relative")

        def run(fn):
            fn()
            times = []
            for _ in range(repeats):
                start = time.perf_counter()
                fn()
                times.append(time.perf_counter() - start)
            return statistics.median(times)

        refined = run(lambda i=image, d=low: refine_depth(d, i))
        bilinear = run(lambda i=image, d=low: F.interpolate(d.values, size=i.shape[-2:], mode="bilinear"))
        print(f"| {height}x{width} | {height // 4}x{width // 4} | {refined:.2f} | {bilinear:.3f} |", flush=True)


if __name__ == "__main__":
    main()

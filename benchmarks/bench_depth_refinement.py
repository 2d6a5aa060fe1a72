"""Does edge-aware refinement win back what a degraded disparity map costs the final render?

Issue #5's protocol on the synthetic ground truth: for each test-split scene (256x256) and focus (far
and near quantile), the true disparity is degraded (area-downsampled x4, Gaussian blur sigma 1 px at the
low resolution, bilinear back up), then refined with ``lensblur.depth.refine_depth`` from the low-res map
and the photo, by each method. Each map drives the classical scatter (K = 20, γ 2.2); we score PSNR
against the ray-traced image inside the discontinuity band. "recovered" = (refined − degraded) /
(true − degraded). The test split shares no photo, texture family, outline family or seed with the
scenes the learned refiner was trained on.

A second table does the same on a real photo, the bundled Middlebury Motorcycle with its true stereo
disparity: no ray-traced reference exists there, so the render from the true disparity is the reference,
and the disparity error near depth edges is reported too. A third table times refine_depth.

    .venv/bin/python benchmarks/bench_depth_refinement.py [--scenes 6] [--no-timing]
    .venv/bin/python benchmarks/bench_depth_refinement.py --only-timing --variants learned [--keep-freed-memory]
    .venv/bin/python benchmarks/bench_depth_refinement.py --working-resolution [--factor 2]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
import torch.nn.functional as F

import lensblur as lb
from lensblur.depth import refine_depth
from lensblur.evaluation import discontinuity_band, masked_psnr, psnr
from lensblur.io.images import linear_to_srgb, srgb_to_linear
from lensblur.synth import make_scene, trace_all_in_focus, trace_defocus

K, GAMMA, SIZE = 20.0, 2.2, 256
# refine_depth settings compared: the default learned refiner (precision "auto": bfloat16 on a CPU with AMX), the
# same in float32, averaged over 8 views, guided
VARIANTS = {"learned": {"method": "learned"}, "learned, float32": {"method": "learned", "precision": "float32"},
            "learned, 8 views": {"method": "learned", "views": 8}, "guided": {"method": "guided"}}
TIMED_ONLY = {"learned, 0.7 MP working resolution": {"method": "learned", "work_px": 700_000}}


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
    parser.add_argument("--no-timing", action="store_true", help="skip the timing table (the slowest part)")
    parser.add_argument("--only-timing", action="store_true", help="print only the timing table")
    parser.add_argument("--working-resolution", action="store_true",
                        help="print only the working-resolution table (large photos: refined small, upsampled)")
    parser.add_argument("--factor", type=int, default=2,
                        help="with --working-resolution: how many times the Motorcycle is enlarged (2: 1.5 MP)")
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS) + list(TIMED_ONLY), default=list(VARIANTS),
                        help="refine_depth settings to time")
    parser.add_argument("--keep-freed-memory", action="store_true",
                        help="time with the allocator setting the lensblur command uses for networks")
    args = parser.parse_args()
    timed = {name: {**VARIANTS, **TIMED_ONLY}[name] for name in args.variants}
    if args.keep_freed_memory:
        from lensblur._allocator import keep_freed_memory

        print(f"allocator keeps freed memory: {keep_freed_memory()}")
    if args.only_timing:
        _timing(timed)
        return
    if args.working_resolution:
        _working_resolution(args.factor)
        return
    names = ("true", "degraded", *(f"refined, {m}" for m in VARIANTS))
    rows = {name: [] for name in names}
    whole = {name: [] for name in names}
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
        }
        for name, settings in VARIANTS.items():
            maps[f"refined, {name}"] = refine_depth(lb.DepthMap(low, kind="disparity", scale="relative"),
                                                    srgb_to_linear(image), **settings).values
        for q in (0.1, 0.9):
            focus = float(np.quantile(base.disparity, q))
            target = trace_defocus(scene, strength_px=K, focus_disparity=focus, gammas=(GAMMA,)).image(GAMMA)
            band = discontinuity_band(K * (base.disparity - focus))
            for name, disparity in maps.items():
                coc = (K * (disparity - focus)).float().contiguous()
                out = lb.scatter_encoded(image, coc, gamma=GAMMA).image[0].permute(1, 2, 0).numpy().clip(0, 1)
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
    for name in VARIANTS:
        got = m[f"refined, {name}"] - m["degraded"]
        print(f"\nrecovered by {name}: {got / lost:.2f} of the {lost:.2f} dB band PSNR the degradation cost", end="")
    print()
    _motorcycle()
    if not args.no_timing:
        _timing(timed)


def _motorcycle() -> None:
    """The real photo: Middlebury's true disparity degraded the same way; renders scored against the render
    from the true disparity inside its depth-edge band, and the disparity error there."""
    from scipy import ndimage

    from lensblur.depth import fill_holes
    from lensblur.io.samples import motorcycle

    scene = motorcycle()
    valid = torch.isfinite(scene.depth.values)[0, 0].numpy()
    truth = fill_holes(scene.depth).normalized().values
    h, w = truth.shape[-2:]
    low = _degrade(truth)
    display = linear_to_srgb(scene.image.clamp(0, 1))
    maps = {"degraded": F.interpolate(low, size=(h, w), mode="bilinear", align_corners=False)}
    for name, settings in VARIANTS.items():
        maps[f"refined, {name}"] = refine_depth(lb.DepthMap(low, kind="disparity", scale="relative"),
                                                scene.image, **settings).values
    t = truth[0, 0].numpy()
    jumps = np.zeros_like(valid)
    jumps[:, 1:] |= np.abs(np.diff(t, axis=1)) > 0.02
    jumps[1:, :] |= np.abs(np.diff(t, axis=0)) > 0.02
    band = ndimage.binary_dilation(jumps, iterations=6) & valid
    focus = float(np.quantile(t[valid], 0.5))
    ref = None
    scores = {}
    for name, disparity in {"true": truth, **maps}.items():
        coc = (K * (disparity - focus)).float().contiguous()
        out = lb.scatter_encoded(display.contiguous(), coc, gamma=GAMMA).image[0].permute(1, 2, 0).numpy().clip(0, 1)
        if ref is None:
            ref = out
            continue
        error = np.abs(disparity[0, 0].numpy() - t)
        scores[name] = (masked_psnr(out, ref, band), float(error[band].mean()), float(error[valid].mean()))
    print(f"\n# real photo: Middlebury Motorcycle {w}x{h}, true disparity degraded the same way, K = {K:g}, "
          f"focus at the median; {band.mean():.0%} of pixels in the depth-edge band\n")
    print("| disparity | band PSNR vs the render from the true disparity (dB) | band disparity MAE (% of range) "
          "| whole-image MAE (%) |")
    print("|---|---|---|---|")
    for name, (p, band_mae, mae) in scores.items():
        print(f"| {name} | {p:.2f} | {100 * band_mae:.2f} | {100 * mae:.2f} |")


def _working_resolution(factor: int) -> None:
    """Large photos are refined at ``refine.WORK_PX`` and upsampled with the photo as guide: the Motorcycle
    enlarged ``factor`` times (so that it is above the working resolution), its true disparity degraded the
    same way (x4 down), refined at full resolution (the old path) and at the working resolution; renders scored
    in the depth-edge band against the render from the true disparity, as in the table above."""
    import time

    from scipy import ndimage

    from lensblur.depth import fill_holes
    from lensblur.depth import refine as refine_module
    from lensblur.io.samples import motorcycle

    scene = motorcycle()
    truth = fill_holes(scene.depth).normalized().values
    h, w = truth.shape[-2] * factor, truth.shape[-1] * factor
    image = F.interpolate(scene.image, size=(h, w), mode="bicubic", align_corners=False).clamp(0, 1)
    truth = F.interpolate(truth, size=(h, w), mode="bilinear", align_corners=False)
    low = lb.DepthMap(_degrade(truth), kind="disparity", scale="relative")
    t = truth[0, 0].numpy()
    jumps = np.zeros(t.shape, bool)
    jumps[:, 1:] |= np.abs(np.diff(t, axis=1)) > 0.02
    jumps[1:, :] |= np.abs(np.diff(t, axis=0)) > 0.02
    band = ndimage.binary_dilation(jumps, iterations=6 * factor)
    focus = float(np.quantile(t, 0.5))
    display = linear_to_srgb(image).contiguous()

    def render(disparity):
        coc = (K * factor * (disparity - focus)).float().contiguous()
        return lb.scatter_encoded(display, coc, gamma=GAMMA).image[0].permute(1, 2, 0).numpy().clip(0, 1)

    ref = render(truth)
    rows = {"degraded (bilinear)": (F.interpolate(low.values, size=(h, w), mode="bilinear"), 0.0)}
    for name, work, precision in (("learned, full resolution (default)", None, "auto"),
                                  ("learned, full resolution, float32", None, "float32"),
                                  ("learned, working resolution", refine_module.WORK_PX, "auto")):
        start = time.perf_counter()
        rows[name] = (refine_depth(low, image, work_px=work, precision=precision).values,
                      time.perf_counter() - start)
    print(f"\n# working resolution: Motorcycle enlarged x{factor} ({w}x{h}, {w * h / 1e6:.1f} MP; WORK_PX = "
          f"{refine_module.WORK_PX / 1e6:.1f} MP), K = {K * factor:g}, band PSNR vs the true-disparity render\n")
    print("| disparity | band PSNR (dB) | band MAE (% of range) | refine time (s) |")
    print("|---|---|---|---|")
    for name, (disparity, seconds) in rows.items():
        error = np.abs(disparity[0, 0].numpy() - t)
        print(f"| {name} | {masked_psnr(render(disparity), ref, band):.2f} | {100 * error[band].mean():.2f} | "
              f"{seconds:.1f} |", flush=True)


def _timing(variants: dict, repeats: int = 3) -> None:
    """Cost of refine_depth on photo-sized inputs (x4 upsampling), median of ``repeats`` after a warm-up,
    against bilinear upsampling measured in the same run."""
    import statistics
    import time

    print("\n| photo | ×4 map | " + " | ".join(f"{name} (s)" for name in variants) + " | bilinear upsampling (s) |")
    print("|---|---|" + "---|" * (len(variants) + 1))
    for height, width in ((768, 1024), (1536, 2048), (3000, 4000)):
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

        cells = [run(lambda i=image, d=low, s=settings: refine_depth(d, i, **s)) for settings in variants.values()]
        bilinear = run(lambda i=image, d=low: F.interpolate(d.values, size=i.shape[-2:], mode="bilinear"))
        print(f"| {height}x{width} | {height // 4}x{width // 4} | " + " | ".join(f"{c:.2f}" for c in cells)
              + f" | {bilinear:.3f} |", flush=True)


if __name__ == "__main__":
    main()

"""Speed of the classical scatter at 1920x1080 (benchmark, not a test).

Scene: the bundled Middlebury Motorcycle photo and its true disparity (holes filled), resized to
1920x1080, focused on the engine, with K set so the largest blur radius is 5 / 15 / 25 / 50 px;
apertures: circle, 6 blades, and a 41x41 heart-shaped kernel image. Times
are medians (and inter-quartile ranges) of repeated runs of the full public call
(``lensblur.scatter_blur``: gamma 2.2 encode/decode, conversions, kernel), after a warm-up run that
compiles the numba kernels. Ratios compare methods measured in the same run.

    .venv/bin/python benchmarks/bench_scatter.py [--repeats 9] [--skip-naive]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import numba
import numpy as np
import torch
import torch.nn.functional as F

import lensblur as lb
from lensblur.optics.apertures import span_table
from lensblur.render.classical.scatter import _scatter_numba_one

RADII = (5, 15, 25, 50)


def _scene(height=1080, width=1920):
    sample = lb.io.motorcycle()
    disparity = lb.depth.fill_holes(sample.depth).normalized().values
    image = F.interpolate(sample.image, size=(height, width), mode="bilinear", align_corners=False).clamp(0, 1)
    disparity = F.interpolate(disparity, size=(height, width), mode="bilinear", align_corners=False)
    focus = float(disparity[0, 0, int(300 / 500 * height), int(390 / 741 * width)])
    return image.contiguous(), disparity, focus


def _heart(size=41):
    """A heart-shaped aperture picture (1 = open), as a user would draw one for a custom kernel."""
    yy, xx = np.mgrid[-1:1:size * 1j, -1:1:size * 1j]
    return (((xx**2 + (yy + 0.1) ** 2 - 0.6) ** 3 - xx**2 * (yy + 0.1) ** 3 * 2) < 0).astype(np.float64)


def _time(fn, repeats):
    fn()  # warm-up (numba compile, caches)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    q = np.percentile(times, [25, 75])
    return statistics.median(times), q[1] - q[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--skip-naive", action="store_true", help="skip the slow O(r^2) baselines")
    args = parser.parse_args()
    image, disparity, focus = _scene()
    spread = float((disparity - focus).abs().max())
    print(f"# lensblur scatter benchmark: 1920x1080, gamma 2.2, {platform.processor() or platform.machine()}, "
          f"{numba.get_num_threads()} numba threads, torch {torch.__version__}")
    print(f"# focus disparity {focus:.3f}; mean |r| / max |r| = "
          f"{float((disparity - focus).abs().mean()) / spread:.2f}; median (IQR) of {args.repeats} runs\n")
    rows = []
    heart = lb.Aperture(kernel=_heart())
    for radius in RADII:
        coc = (radius / spread) * (disparity - focus)
        circle = _time(lambda coc=coc: lb.scatter_blur(image, coc, gamma=2.2), args.repeats)
        hexagon = _time(lambda coc=coc: lb.scatter_blur(image, coc, gamma=2.2, aperture=lb.Aperture(blades=6)),
                        args.repeats)
        kernel = _time(lambda coc=coc: lb.scatter_blur(image, coc, gamma=2.2, aperture=heart), args.repeats)
        rows.append((radius, circle, hexagon, kernel, coc))
    print("| max radius (px) | circle, default CPU path (s) | 6-blade (s) | 6-blade / circle | "
          "kernel image, heart (s) | heart / circle |")
    print("|---:|---:|---:|---:|---:|---:|")
    for radius, circle, hexagon, kernel, _ in rows:
        print(f"| {radius} | {circle[0]:.3f} ({circle[1]:.3f}) | {hexagon[0]:.3f} ({hexagon[1]:.3f}) | "
              f"{hexagon[0] / circle[0]:.2f} | {kernel[0]:.3f} ({kernel[1]:.3f}) | {kernel[0] / circle[0]:.2f} |")

    radius, circle, _, _, coc = rows[2]
    img = np.ascontiguousarray(image[0].numpy() ** 2.2, dtype=np.float32)
    c = np.ascontiguousarray(coc[0, 0].numpy(), dtype=np.float32)
    out = np.empty_like(img)
    table = span_table(lb.Aperture())
    print(f"\nAt max radius {radius} px (same run). The naive scatters are kernels alone on the gamma-encoded")
    print("image, so they are compared with the public call and with lensblur's kernel alone on the same arrays:\n")
    print("| method | median (s) | public call is faster by | kernel alone is faster by |")
    print("|---|---:|---:|---:|")
    kernel = _time(lambda: _scatter_numba_one(img, c, lb.Aperture(), out, False), args.repeats)
    print(f"| lensblur row-span scatter (numba, default), public call | {circle[0]:.3f} | 1.0x | |")
    dilated = _time(lambda: lb.scatter_blur(image, coc, gamma=2.2, return_dilated=True), args.repeats)
    print(f"| the same with BokehMe's dilated defocus map (return_dilated=True) | {dilated[0]:.3f} | | |")
    print(f"| lensblur row-span kernel alone (no checks, no gamma) | {kernel[0]:.3f} | | 1.0x |")
    threads = numba.get_num_threads()
    if threads > 1:
        numba.set_num_threads(1)
        try:
            single = _time(lambda: _scatter_numba_one(img, c, lb.Aperture(), out, False), max(1, args.repeats // 3))
        finally:
            numba.set_num_threads(threads)
        print(f"| lensblur row-span kernel alone, 1 thread ({threads} threads are {single[0] / kernel[0]:.2f}x faster) | "
              f"{single[0]:.3f} | | |")
    torch_cpu = _time(lambda: lb.scatter_blur(image, coc, gamma=2.2, backend="torch"), max(1, args.repeats // 3))
    print(f"| lensblur torch backend on CPU (GPU path), public call | {torch_cpu[0]:.3f} | "
          f"{torch_cpu[0] / circle[0]:.1f}x | |")
    if not args.skip_naive:
        from _naive import naive_bokehme_tanh, naive_same_kernel

        reach = radius + 2
        naive = {
            "naive per-pixel scatter, same anti-aliased kernel (numba)": _time(
                lambda: naive_same_kernel(img, c, table.ymin, table.ymax, table.cxl, table.cxr, 32, reach, out,
                                          threads), max(1, args.repeats // 3)),
            "naive per-pixel scatter, BokehMe tanh kernel (numba)": _time(
                lambda: naive_bokehme_tanh(img, c, 32, reach, out, threads), 1),
        }
        for name, (median, _) in naive.items():
            print(f"| {name} | {median:.3f} | {median / circle[0]:.1f}x | {median / kernel[0]:.1f}x |")

if __name__ == "__main__":
    main()

"""Speed of the layered renderer against the scatter (benchmark, not a test).

Scene: the bundled Middlebury Motorcycle photo and its true disparity (holes filled), resized to
1920x1080 (and optionally 6000x4000), focused on the engine, K set so the largest blur radius is 25 or
50 px; circle aperture, the library's default γ (None: linear light; ``--gamma 2.2`` times BokehMe's γ on
display values, which adds a conversion each way), the full public calls (``layered_blur`` includes its
scatter pass for the off-band pixels). Medians (IQR) of repeated runs after a warm-up; the ratio is measured
in the same run.

    .venv/bin/python benchmarks/bench_layered.py [--repeats 5] [--large] [--gamma 2.2]
"""

from __future__ import annotations

import argparse
import platform
import resource
import time

import torch
from bench_scatter import _scene, _time  # the same scene and timing as the scatter's benchmark

import lensblur as lb
from lensblur.render.classical.layered import layered_blur

RADII = (25, 50)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--large", action="store_true", help="also 6000x4000 at max radius 50 (one run)")
    parser.add_argument("--gamma", type=float, default=None,
                        help="BokehMe's γ on display values (default: None, the library's linear light)")
    args = parser.parse_args()
    gamma = args.gamma
    print(f"# layered vs scatter, {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, gamma {gamma}\n")
    print("| size | max radius (px) | scatter (s) | layered (s) | layered / scatter | band share |")
    print("|---|---:|---:|---:|---:|---:|")
    image, disparity, focus = _scene()
    for radius in RADII:
        strength = radius / max(focus - float(disparity.min()), float(disparity.max()) - focus)
        coc = (strength * (disparity - focus)).contiguous()
        t_s, iqr_s = _time(lambda coc=coc: lb.scatter_blur(image, coc, gamma=gamma), args.repeats)
        t_l, iqr_l = _time(lambda coc=coc: layered_blur(image, coc, gamma=gamma), args.repeats)
        band = layered_blur(image, coc, gamma=gamma).extras["band"]
        print(f"| 1920x1080 | {radius} | {t_s:.3f} ({iqr_s:.3f}) | {t_l:.3f} ({iqr_l:.3f}) | {t_l / t_s:.2f} | "
              f"{band:.2f} |")
    if args.large:
        image, disparity, focus = _scene(4000, 6000)
        strength = 50 / max(focus - float(disparity.min()), float(disparity.max()) - focus)
        coc = (strength * (disparity - focus)).contiguous()
        start = time.perf_counter()
        lb.scatter_blur(image, coc, gamma=gamma)
        t_s = time.perf_counter() - start
        start = time.perf_counter()
        layered_blur(image, coc, gamma=gamma)
        t_l = time.perf_counter() - start
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2
        print(f"| 6000x4000 | 50 | {t_s:.3f} (1 run) | {t_l:.3f} (1 run) | {t_l / t_s:.2f} | peak RSS {peak:.1f} GB |")


if __name__ == "__main__":
    main()

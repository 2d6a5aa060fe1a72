"""Speed and accuracy of the ground-truth tracer (benchmark, not a test).

Speed: one 512x512 training scene with 8 layers (background, floor, 5 objects, near foreground), traced
at BokehMe's training settings (K = 12 and 24, all five gammas in one pass) and at the benchmark's
largest blur (K = 50, γ 2.2), focus at the scene's median disparity. Medians of ``--repeats`` runs after a
warm-up (numba compilation). Accuracy: the same scene at 256x256 against a finer trace (cell 0.25 px) as
the reference, measured in the same run, as PSNR of the display images (γ 2.2).

    .venv/bin/python benchmarks/bench_tracer.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import numba
import numpy as np

from lensblur.evaluation import psnr
from lensblur.synth import make_scene, trace_all_in_focus, trace_defocus


def _eight_layer_scene(size: int, margin: int):
    for seed in range(200):
        scene = make_scene(seed, "train", size, size, margin=margin, max_objects=5)
        if len(scene.layers) == 8:
            return scene
    raise RuntimeError("no 8-layer scene among the first 200 seeds")


def _median_time(fn, repeats):
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"# lensblur tracer benchmark: {platform.processor() or platform.machine()}, "
          f"{numba.get_num_threads()} numba threads; medians of {args.repeats} runs\n")

    scene = _eight_layer_scene(512, 54)
    focus = float(np.median(trace_all_in_focus(scene).disparity))
    print(f"## speed: 512x512, 8 layers ({', '.join(layer.name for layer in scene.layers)}), d_f = {focus:.2f}\n")
    print("| K | gammas | cell (px) | rays per pixel (mean) | time |")
    print("|---|---|---|---|---|")
    for strength, gammas, cell in ((12.0, (1, 2, 3, 4, 5), 1.0), (24.0, (1, 2, 3, 4, 5), 1.0),
                                   (24.0, (2.2,), 1.0), (24.0, (2.2,), 2.0), (50.0, (2.2,), 1.0)):
        seconds, gt = _median_time(lambda s=strength, g=gammas, c=cell: trace_defocus(
            scene, strength_px=s, focus_disparity=focus, gammas=g, cell_px=c), args.repeats)
        print(f"| {strength:g} | {len(gammas)} | {cell:g} | {gt.rays_per_pixel.mean():.0f} | {seconds:.2f} s |")

    small = _eight_layer_scene(256, 28)
    focus = float(np.median(trace_all_in_focus(small).disparity))
    print("\n## accuracy: 256x256, 8 layers, K = 24, PSNR (γ 2.2 display) against cell 0.25 px\n")
    reference = trace_defocus(small, strength_px=24.0, focus_disparity=focus, cell_px=0.25).image(2.2)
    print("| cell (px) | PSNR vs cell 0.25 | max abs error |")
    print("|---|---|---|")
    for cell in (2.0, 1.0, 0.5):
        image = trace_defocus(small, strength_px=24.0, focus_disparity=focus, cell_px=cell).image(2.2)
        print(f"| {cell:g} | {psnr(image, reference):.2f} dB | {np.abs(image - reference).max():.4f} |")


if __name__ == "__main__":
    main()

"""Cost of highlight reconstruction on a 1080p scatter render (benchmark, not a test).

Scene: the bundled Middlebury Motorcycle photo and its true disparity, resized to 1920x1080 (as in
bench_scatter), with clipped lights added the way a night photo has them: N point-to-disc lights
(radius 0-4 px) clipped to white with a soft glow, and optionally a clipped sky (the top 15 % of the
frame). Max blur radius 25 px, linear light. The full ``lb.render`` call without and with
``highlights=Highlights()`` and the reconstruction alone are timed in turn within each repeat (so drift in
the machine's speed hits all three alike); the table gives medians (IQR), and the median over repeats of
each repeat's own difference between the two full calls.

    .venv/bin/python benchmarks/bench_highlights.py [--repeats 9]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import numpy as np
import torch
from bench_scatter import _scene  # the same scene as the scatter's benchmark

import lensblur as lb
from lensblur.io.images import ImageMeta
from lensblur.render.classical.highlights import reconstruct_highlights


def _with_lights(image: torch.Tensor, count: int, sky: bool, seed: int = 0) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    out = image.clone()
    height, width = image.shape[-2:]
    yy, xx = np.mgrid[0:height, 0:width]
    for y, x, r in zip(rng.integers(20, height - 20, count), rng.integers(20, width - 20, count),
                       rng.uniform(0, 4, count), strict=True):
        y0, y1, x0, x1 = y - 8, y + 9, x - 8, x + 9
        d = np.hypot(yy[y0:y1, x0:x1] - y, xx[y0:y1, x0:x1] - x)
        glow = torch.from_numpy(np.clip(1.0 - (d - r) / 3.0, 0, 1).astype(np.float32))
        out[0, :, y0:y1, x0:x1] = torch.maximum(out[0, :, y0:y1, x0:x1], glow)
    if sky:
        out[..., : int(0.15 * height), :] = 1.0
    return out


def _interleaved(fns, repeats):
    """Each function once per repeat, in turn (after one warm-up call each): per function its times (s)."""
    for fn in fns:
        fn()
    times = [[] for _ in fns]
    for _ in range(repeats):
        for fn, spent in zip(fns, times, strict=True):
            start = time.perf_counter()
            fn()
            spent.append(time.perf_counter() - start)
    return [np.array(t) for t in times]


def _median_iqr(values) -> str:
    q = np.percentile(values, [25, 75])
    return f"{statistics.median(values):.3f} ± {q[1] - q[0]:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()
    image, disparity, focus = _scene()
    radius = 25
    strength = radius / max(focus - float(disparity.min()), float(disparity.max()) - focus)
    coc = (strength * (disparity - focus)).contiguous()
    print(f"# highlight reconstruction cost, 1920x1080, max radius {radius} px, scatter, "
          f"{platform.processor() or platform.machine()}, torch {torch.__version__}, {torch.get_num_threads()} threads\n")
    print("| clipped content | blobs | render (s) | render with highlights (s) | added by highlights (s) | "
          "added / render | reconstruction alone (s) | alone / render |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for count, sky in ((0, False), (50, False), (500, False), (500, True)):
        photo = _with_lights(image, count, sky)
        scene = lb.Scene(photo, meta=ImageMeta(bit_depth=8))
        plain, recon, alone = _interleaved(
            [lambda s=scene: lb.render(s, coc_px=coc, renderer="scatter"),
             lambda s=scene: lb.render(s, coc_px=coc, renderer="scatter", highlights=lb.Highlights()),
             lambda p=photo: reconstruct_highlights(p, coc)], args.repeats)
        added = recon - plain
        blobs = reconstruct_highlights(photo)[1]["blobs"]
        base = statistics.median(plain)
        label = ("the photo as it is" if count == 0 else f"+ {count} lights") + (" + clipped sky" if sky else "")
        print(f"| {label} | {blobs} | {_median_iqr(plain)} | {_median_iqr(recon)} | {_median_iqr(added)} | "
              f"{statistics.median(added) / base:.1%} | {_median_iqr(alone)} | {statistics.median(alone) / base:.1%} |")
    print("\nMedians ± IQR over repeats; \"added\" is the median of each repeat's difference between the two "
          "full calls, timed back to back.")


if __name__ == "__main__":
    main()

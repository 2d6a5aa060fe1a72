"""Cost of highlight reconstruction on a 1080p scatter render (benchmark, not a test).

Scene: the bundled Middlebury Motorcycle photo and its true disparity, resized to 1920x1080 (as in
bench_scatter), with clipped lights added the way a night photo has them: N point-to-disc lights
(radius 0-4 px) clipped to white with a soft glow, and optionally a clipped sky (the top 15 % of the
frame). Max blur radius 25 px, linear light. Times are medians (IQR) of the full ``lb.render`` call with
and without ``highlights=Highlights()``, and of the reconstruction alone, measured in the same run.

    .venv/bin/python benchmarks/bench_highlights.py [--repeats 9]
"""

from __future__ import annotations

import argparse
import platform

import numpy as np
import torch
from bench_scatter import _scene, _time  # the same scene and timing as the scatter's benchmark

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
    print("| clipped content | blobs | render (s) | reconstruction (s) | reconstruction / render | "
          "render with highlights (s) |")
    print("|---|---:|---:|---:|---:|---:|")
    for count, sky in ((0, False), (50, False), (500, False), (500, True)):
        photo = _with_lights(image, count, sky)
        scene = lb.Scene(photo, meta=ImageMeta(bit_depth=8))
        plain, iqr_p = _time(lambda s=scene: lb.render(s, coc_px=coc, renderer="scatter"), args.repeats)
        recon, iqr_r = _time(lambda s=scene: lb.render(s, coc_px=coc, renderer="scatter", highlights=lb.Highlights()),
                             args.repeats)
        alone, iqr_a = _time(lambda p=photo: reconstruct_highlights(p, coc), args.repeats)
        blobs = reconstruct_highlights(photo)[1]["blobs"]
        label = ("the photo as it is" if count == 0 else f"+ {count} lights") + (" + clipped sky" if sky else "")
        print(f"| {label} | {blobs} | {plain:.3f} ± {iqr_p:.3f} | {alone:.3f} ± {iqr_a:.3f} | {alone / plain:.1%} | "
              f"{recon:.3f} ± {iqr_r:.3f} |")
    print("\nMedians ± IQR. The full-call columns differ by less than this machine's run-to-run noise, so the "
          "overhead is the reconstruction's own median over the render's, from the same run.")


if __name__ == "__main__":
    main()

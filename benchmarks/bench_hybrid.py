"""Runtime of the renderers at 1920x1080: classical scatter, neural (ARNet + IUNet), hybrid (benchmark, not a test).

Same scene as ``bench_scatter.py`` (the bundled Motorcycle resized to 1920x1080, focused on the engine), K
set so the largest blur radius is 10 / 25 / 50 px. Full public calls (``lensblur.render`` with
``coc_px``), median and inter-quartile range of repeated runs after a warm-up; ratios are against the
scatter measured in the same run. The neural part runs on the image's device (CPU here; pass --device cuda).

    .venv/bin/python benchmarks/bench_hybrid.py [--repeats 5] [--device cpu] [--keep-freed-memory]

``--keep-freed-memory`` times with the allocator setting that the ``lensblur`` command uses when it runs a
network (``lensblur/_allocator.py``).
"""

from __future__ import annotations

import argparse
import os
import platform

import torch
from bench_scatter import _scene, _time

import lensblur as lb

RADII = (10, 25, 50)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--keep-freed-memory", action="store_true")
    args = parser.parse_args()
    if args.keep_freed_memory:
        from lensblur._allocator import keep_freed_memory

        print(f"allocator keeps freed memory: {keep_freed_memory()}")
    image, disparity, focus = _scene()
    image, disparity = image.to(args.device), disparity.to(args.device)
    spread = float((disparity - focus).abs().max())
    name = torch.cuda.get_device_name() if args.device.startswith("cuda") else (platform.processor() or platform.machine())
    print(f"# lensblur renderers at 1920x1080, {name}, {os.cpu_count()} cores, {torch.get_num_threads()} torch "
          f"threads, torch {torch.__version__}; median (IQR) of {args.repeats} runs\n")
    print("| max radius | scatter | neural | hybrid | hybrid / scatter | neural scale s |")
    print("|---|---|---|---|---|---|")
    scene = lb.Scene(image, None)
    for radius in RADII:
        coc = (radius / spread) * (disparity - focus)
        times = {}
        for renderer in ("scatter", "neural", "hybrid"):
            times[renderer] = _time(lambda r=renderer, c=coc: lb.render(scene, coc_px=c, renderer=r),
                                    args.repeats)
        scale = lb.render(scene, coc_px=coc, renderer="neural").extras["scale"]
        cells = " | ".join(f"{m:.2f} s ({q:.2f})" for m, q in times.values())
        print(f"| {radius} px | {cells} | {times['hybrid'][0] / times['scatter'][0]:.1f}x | {scale:.1f} |", flush=True)


if __name__ == "__main__":
    main()

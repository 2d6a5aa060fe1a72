"""Peak memory of ``lensblur render`` per renderer, against the model in ``lensblur.render.memory``.

Scene: the bundled Middlebury Motorcycle photo and its true disparity (holes filled), resized to 6 and 12 MP,
written as an 8-bit PNG and a 16-bit disparity PNG; ``lensblur render --blur 25`` in a process of its own,
which reports its own peak resident memory (VmHWM). The table gives the measured peak beside
``estimate_bytes(..., whole_process=True)``.

    .venv/bin/python benchmarks/bench_memory.py [--renderers scatter layered] [--sizes 6 12 24]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from bench_scatter import _scene  # the same scene as the scatter's benchmark

import lensblur as lb
from lensblur.render.memory import estimate_bytes

SIZES = {"6 MP": (2000, 3000), "12 MP": (2832, 4256), "24 MP": (4000, 6000)}
REPORT = ("import sys; from lensblur.cli import main; code = main(sys.argv[1:]); "
          "print(next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM'))); sys.exit(code)")


def main() -> None:
    import cv2

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--renderers", nargs="+", default=["scatter", "layered"])
    parser.add_argument("--sizes", nargs="+", default=["6", "12"], choices=["6", "12", "24"], help="megapixels")
    args = parser.parse_args()
    print("| size | renderer | measured peak (MB) | model (MB) | model / measured |")
    print("|---|---|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        for label, (height, width) in ((f"{mp} MP", SIZES[f"{mp} MP"]) for mp in args.sizes):
            image, disparity, _ = _scene(height, width)
            lb.save_image(tmp / "photo.png", image, bit_depth=8, overwrite=True)
            cv2.imwrite(str(tmp / "disparity.png"), np.round(disparity[0, 0].numpy() * 65535).astype(np.uint16))
            del image, disparity
            for renderer in args.renderers:
                run = subprocess.run([sys.executable, "-c", REPORT, "render", str(tmp / "photo.png"), "--depth",
                                      str(tmp / "disparity.png"), "--depth-kind", "disparity", "--blur", "25",
                                      "--focus-at", "100,100", "--renderer", renderer, "-o", str(tmp / "out.png"),
                                      "--overwrite", "--quiet"], check=True, capture_output=True, text=True)
                peak = int(run.stdout.split()[-1]) * 1024 / 1e6   # VmHWM is in KiB; MB here are 10^6 bytes
                model = estimate_bytes(height, width, renderer, whole_process=True) / 1e6
                print(f"| {label} | {renderer} | {peak:.0f} | {model:.0f} | {model / peak:.2f} |", flush=True)


if __name__ == "__main__":
    main()

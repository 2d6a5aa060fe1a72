"""Where does a refined disparity map still go wrong? Squared disparity error on and beside thin structures.

On the benchmark's test-split scenes (``benchmarks/bench_depth_refinement.py``: 256x256, ×4 area
downsampling, blur σ 1 low-res px), splits the squared disparity error of the bilinear and the refined maps
between "thin" pixels (where a 5x5 grey opening of the true map lowers it by > 0.05: structures ≤ 4 px wide,
dilated by 2 px) and the rest.

    .venv/bin/python tools/refine_thin_structures.py [--scenes 6] [--method learned]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

import lensblur as lb
from lensblur.depth import refine_depth
from lensblur.io.images import srgb_to_linear
from lensblur.synth import make_scene, trace_all_in_focus

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from bench_depth_refinement import SIZE, _degrade  # noqa: E402  (the benchmark's own degradation)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=6)
    parser.add_argument("--method", default="learned")
    args = parser.parse_args()
    sums = {"thin": np.zeros(2), "rest": np.zeros(2)}
    for seed in range(args.scenes):
        base = trace_all_in_focus(make_scene(seed, "test", SIZE, SIZE, margin=24), (2.2,))
        image = torch.from_numpy(base.all_in_focus(2.2)).permute(2, 0, 1)[None].contiguous()
        truth = base.disparity
        low = _degrade(torch.from_numpy(truth)[None, None])
        bilinear = F.interpolate(low, size=truth.shape, mode="bilinear", align_corners=False)[0, 0].numpy()
        refined = refine_depth(lb.DepthMap(low, kind="disparity", scale="relative"), srgb_to_linear(image),
                               method=args.method).values[0, 0].numpy()
        thin = ndimage.binary_dilation(truth - ndimage.grey_opening(truth, size=(5, 5)) > 0.05, iterations=2)
        for name, mask in (("thin", thin), ("rest", ~thin)):
            sums[name] += [((bilinear - truth) ** 2)[mask].sum(), ((refined - truth) ** 2)[mask].sum()]
    total = sums["thin"][0] + sums["rest"][0]
    print(f"# squared disparity error, {args.scenes} test scenes, bilinear vs refined ({args.method})\n")
    print("| pixels | share of the bilinear map's error | removed by refinement |")
    print("|---|---|---|")
    for name, (before, after) in sums.items():
        print(f"| {name} | {before / total:.0%} | {1 - after / before:.0%} |")


if __name__ == "__main__":
    main()

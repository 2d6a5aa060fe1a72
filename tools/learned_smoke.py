"""Score trained learned-renderer weights on held-out traced pairs, next to returning the input.

The README's smoke-run table: ``--pairs 8 --size 128`` traced test-split pairs (K = 12, γ 2.2).

    .venv/bin/python tools/learned_smoke.py --mpfn outputs/learned/mpfn-synth/model.safetensors \\
        --depth-blend outputs/learned/blend-synth/model.safetensors
"""

from __future__ import annotations

import argparse

import numpy as np

from lensblur.data import SyntheticPairs
from lensblur.evaluation.learned import evaluate_pairs, load_learned
from lensblur.evaluation.metrics import psnr, ssim


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mpfn", default=None)
    parser.add_argument("--depth-blend", default=None)
    parser.add_argument("--pairs", type=int, default=8)
    parser.add_argument("--size", type=int, default=128)
    args = parser.parse_args()
    data = SyntheticPairs(args.pairs, size=args.size, split="test")
    pairs = [(data[i]["image"].permute(1, 2, 0).numpy(), data[i]["target"].permute(1, 2, 0).numpy())
             for i in range(len(data))]
    print("| output | PSNR (dB) | SSIM |\n|---|---:|---:|")
    print(f"| the input itself | {np.mean([psnr(a, b) for a, b in pairs]):.2f} | "
          f"{np.mean([ssim(a, b) for a, b in pairs]):.3f} |")
    for name, weights in (("mpfn", args.mpfn), ("depth-blend", args.depth_blend)):
        if weights:
            mean = evaluate_pairs(load_learned(name, weights), data)["mean"]
            print(f"| {name} | {mean['psnr']:.2f} | {mean['ssim']:.3f} |")


if __name__ == "__main__":
    main()

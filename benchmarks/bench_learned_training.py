"""Cost of one training step of the learned renderers on this machine (benchmark, not a test).

One forward + backward + Adam step at batch 2 with the recipes' losses and random data: MPFN on 256 px
crops, depth-aware blending at 384 x 512 (its phase-1 size). Each model runs in its own process so the peak
RSS (``ru_maxrss``) is its own; median of ``--repeats`` steps after one warm-up step.

    .venv/bin/python benchmarks/bench_learned_training.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time


def _measure(which: str, repeats: int) -> dict:
    import torch

    from lensblur.training.learned import DepthBlendRecipe, MPFNRecipe

    if which == "mpfn":
        recipe, size = MPFNRecipe(), (256, 256)
    else:
        recipe, size = DepthBlendRecipe(), (384, 512)
    model = recipe.build()
    batch = {"image": torch.rand(2, 3, *size), "target": torch.rand(2, 3, *size), "coords": torch.rand(2, 2, *size)}
    optimizer = torch.optim.Adam(model.parameters(), 1e-4)
    times = []
    for _ in range(repeats + 1):
        start = time.perf_counter()
        loss, _ = recipe.loss(model, batch, 0)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        times.append(time.perf_counter() - start)
    return {"size": size, "step": statistics.median(times[1:]),
            "peak_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_measure(args.child, args.repeats)))
        return
    print(f"# one training step, batch 2, median of {args.repeats} after a warm-up\n")
    print("| model | input | step (s) | peak RSS (GB) |")
    print("|---|---|---:|---:|")
    for which in ("mpfn", "depth-blend"):
        out = subprocess.run([sys.executable, __file__, "--child", which, "--repeats", str(args.repeats)],
                             check=True, capture_output=True, text=True).stdout
        row = json.loads(out.strip().splitlines()[-1])
        print(f"| {which} | {row['size'][0]}x{row['size'][1]} | {row['step']:.2f} | {row['peak_gb']:.2f} |", flush=True)


if __name__ == "__main__":
    main()

"""What glibc's default allocator costs torch on the CPU, and what ``keep_freed_memory`` wins back.

Each setting runs in a fresh process (the allocator setting is process-wide and cannot be undone): a
training step of the shipped depth refiner's network (batch 16, 128² crops, forward + backward + Adam), the
median of 7 steps after 2 warm-ups, and the share of the process's CPU time spent in the kernel.

    .venv/bin/python benchmarks/bench_allocator.py
"""

from __future__ import annotations

import json
import subprocess
import sys

_STEP = """
import json, resource, statistics, sys, time
import torch
from lensblur._allocator import keep_freed_memory
from lensblur.depth.refine_net import RefineNet, RefinerConfig
kept = keep_freed_memory() if sys.argv[1] == "keep" else False
torch.manual_seed(0)
net = RefineNet(RefinerConfig())
optimiser = torch.optim.Adam(net.parameters())
x = torch.randn(16, 4, 128, 128)
times = []
for i in range(9):
    if i == 2:
        r0 = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    loss = net(x).abs().mean()
    optimiser.zero_grad()
    loss.backward()
    optimiser.step()
    times.append(time.perf_counter() - start)
r1 = resource.getrusage(resource.RUSAGE_SELF)
user, system = r1.ru_utime - r0.ru_utime, r1.ru_stime - r0.ru_stime
print(json.dumps({"kept": kept, "step": statistics.median(times[2:]), "kernel": system / (user + system),
                  "peak_mb": r1.ru_maxrss / 1024}))
"""


def main() -> None:
    rows = {}
    for mode in ("default", "keep"):
        out = subprocess.run([sys.executable, "-c", _STEP, mode], capture_output=True, text=True, check=True)
        rows[mode] = json.loads(out.stdout.strip().splitlines()[-1])
    print("# refiner training step on this CPU (width 32, batch 16, 128² crops), median of 7\n")
    print("| allocator | step (s) | kernel share of CPU time | peak RSS (MB) | speed-up |")
    print("|---|---:|---:|---:|---:|")
    base = rows["default"]["step"]
    for mode, label in (("default", "glibc default"), ("keep", "keep_freed_memory()")):
        r = rows[mode]
        print(f"| {label} | {r['step']:.2f} | {r['kernel']:.0%} | {r['peak_mb']:.0f} | {base / r['step']:.2f}x |")


if __name__ == "__main__":
    main()

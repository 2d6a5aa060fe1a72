"""Cross-check the ground-truth tracer against Blender Cycles on fronto-parallel layered scenes.

Needs a venv with bpy: ``python3.11 -m venv .venv-blender && .venv-blender/bin/pip install bpy``.
Usage: ``python tools/blender_check.py [--samples 1024] [--size 128] [--out outputs/blender_check]``.
Prints PSNR (display-encoded, gamma 2.2, clipped to [0, 1]) between the tracer and Cycles per scene,
and writes side-by-side PNGs and a JSON of the numbers.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from lensblur.evaluation.metrics import psnr
from lensblur.evaluation.report import save_display_png
from lensblur.synth import make_scene, trace_defocus
from lensblur.synth.blender import render_with_cycles
from lensblur.types import Aperture

CASES = [  # (seed, K, focus disparity, aperture, what it checks)
    (101, 12.0, 0.05, Aperture(), "background in focus behind a blurry foreground"),
    (102, 10.0, 0.9, Aperture(), "foreground in focus, background blurred"),
    (103, 12.0, 0.5, Aperture(blades=6), "mid focus, hexagonal aperture"),
]
GAMMA = 2.2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=1024)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--python", default=".venv-blender/bin/python")
    parser.add_argument("--out", type=Path, default=Path("outputs/blender_check"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for seed, strength, focus, aperture, what in CASES:
        scene = make_scene(seed, "test", args.size, args.size, margin=int(strength) + 4, slanted=False)
        t0 = time.perf_counter()
        ours = trace_defocus(scene, strength_px=strength, focus_disparity=focus, aperture=aperture, gammas=(GAMMA,))
        t_ours = time.perf_counter() - t0
        t0 = time.perf_counter()
        cycles = render_with_cycles(scene, strength_px=strength, focus_disparity=focus, aperture=aperture,
                                    gamma=GAMMA, samples=args.samples, python=args.python)
        t_cycles = time.perf_counter() - t0
        a = ours.image(GAMMA)
        b = np.clip(np.maximum(cycles, 0) ** (1 / GAMMA), 0, 1)
        sharp = ours.all_in_focus(GAMMA)
        row = {"seed": seed, "K": strength, "focus_disparity": focus, "aperture": aperture.name, "case": what,
               "psnr_db_vs_cycles": round(psnr(a, b), 2), "psnr_db_sharp_vs_cycles": round(psnr(sharp, b), 2),
               "seconds_tracer": round(t_ours, 2), "seconds_cycles": round(t_cycles, 1), "samples": args.samples}
        rows.append(row)
        print(json.dumps(row))
        save_display_png(args.out / f"scene{seed}_tracer_cycles.png", np.concatenate([sharp, a, b], axis=1),
                         overwrite=True)
    (args.out / "results.json").write_text(json.dumps(rows, indent=1))
    print("| scene | case | K | d_f | aperture | PSNR tracer vs Cycles | PSNR sharp input vs Cycles |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['seed']} | {r['case']} | {r['K']:g} | {r['focus_disparity']:g} | {r['aperture']} | "
              f"{r['psnr_db_vs_cycles']:.2f} dB | {r['psnr_db_sharp_vs_cycles']:.2f} dB |")


if __name__ == "__main__":
    main()

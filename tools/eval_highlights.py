"""Highlight reconstruction on ray-traced HDR scenes: per scene and per type, with and without, and the bound.

For each scene of ``synth.hdr`` (test split, never used by the calibration) and lens setting, the photo the
renderer sees is the pinhole render of the true radiance, clipped to white and stored as 8-bit sRGB; the
target is the thin-lens render of the true radiance, clipped the same way. PSNR (dB, sRGB display values)
of the rendered photo against the target for: the clipped photo as it is (``clipped``), with
``Highlights()`` (``reconstructed``), with the old artistic ``HighlightBoost()`` (``boost``), and from the
true unclipped radiance (``true radiance``, the bound).

    .venv/bin/python tools/eval_highlights.py --out docs/highlights_eval.md

Traces are cached in outputs/cache_hdr (about 5 minutes to build on 2 cores).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

import lensblur as lb
from lensblur.evaluation.metrics import psnr
from lensblur.io.colour import srgb_decode, srgb_encode
from lensblur.io.images import ImageMeta
from lensblur.synth import trace_defocus
from lensblur.synth.hdr import GAMMA, HDR_KINDS, make_hdr_scene

CACHE = Path("outputs/cache_hdr")


def _case(seed: int, kind: str, strength: float, q: float, size: int, split: str = "test") -> dict:
    tag = "" if split == "test" else f"_{split}"
    path = CACHE / f"{kind}_{seed}_{strength:g}_{q:g}_{size}{tag}.npz"
    if path.exists():
        return dict(np.load(path))
    from lensblur.synth import trace_all_in_focus

    for margin in (int(strength) + 4, int(2 * strength) + 4):  # slanted planes can leave [0, 1] a little
        scene = make_hdr_scene(seed, kind, split, size, size, margin=margin)
        base = trace_all_in_focus(scene, (GAMMA,))
        focus = float(np.quantile(base.disparity, q))
        try:
            gt = trace_defocus(scene, strength_px=strength, focus_disparity=focus, gammas=(GAMMA,))
            break
        except lb.InvalidParameterError:
            continue
    case = {"radiance": base.all_in_focus_linear[0], "disparity": base.disparity,
            "target": gt.bokeh_linear[0], "focus": np.float32(focus)}
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **case)
    return case


def _display(linear: torch.Tensor) -> np.ndarray:
    return srgb_encode(linear.clamp(0, 1))[0].permute(1, 2, 0).numpy()


def _photo(radiance: np.ndarray, jpeg_quality: int | None = None) -> torch.Tensor:
    """The clipped 8-bit sRGB file the camera wrote (lossless, or a JPEG of ``jpeg_quality`` with 4:2:0
    chroma, as phones write them), decoded to linear."""
    codes = np.round(srgb_encode(torch.from_numpy(np.clip(radiance, 0, 1))).numpy() * 255)
    if jpeg_quality is not None:
        import io

        from PIL import Image

        stored = io.BytesIO()
        Image.fromarray(codes.astype(np.uint8)).save(stored, "JPEG", quality=jpeg_quality, subsampling=2)
        codes = np.asarray(Image.open(stored)).astype(np.float64)
    return srgb_decode(torch.from_numpy((codes / 255).astype(np.float32))).permute(2, 0, 1)[None].contiguous()


def evaluate(args) -> list[dict]:
    """Every case of ``args`` (seeds, size, renderer, split): one row of PSNRs per case."""
    rows = []
    jpeg_quality = getattr(args, "jpeg_quality", None)
    for kind in HDR_KINDS:
        for seed in range(args.seeds):
            for strength in (12.0, 24.0):
                for q in (0.1, 0.9):
                    case = _case(seed, kind, strength, q, args.size, args.split)
                    coc = torch.from_numpy(strength * (case["disparity"] - case["focus"]))[None, None].float()
                    target = _display(torch.from_numpy(case["target"]).permute(2, 0, 1)[None])
                    photo = _photo(case["radiance"], jpeg_quality)
                    truth = torch.from_numpy(case["radiance"]).permute(2, 0, 1)[None].contiguous()
                    if jpeg_quality:
                        # the bound for a JPEG: the decoded photo with the pixels the camera clipped at their
                        # true radiance (what reconstruction could recover; the JPEG's other losses stay)
                        lost = (truth > 1.0).any(dim=1, keepdim=True)
                        truth = torch.where(lost, truth, photo)
                    scene = lb.Scene(photo, meta=ImageMeta(bit_depth=8, lossy=bool(jpeg_quality)))
                    renders = {
                        "clipped": lb.render(scene, coc_px=coc, renderer=args.renderer),
                        "reconstructed": lb.render(scene, coc_px=coc, renderer=args.renderer,
                                                   highlights=lb.Highlights()),
                        "boost": lb.render(scene, coc_px=coc, renderer=args.renderer, boost=lb.HighlightBoost()),
                        "true radiance": lb.render(lb.Scene(truth), coc_px=coc, renderer=args.renderer)}
                    info = renders["reconstructed"].extras["highlights"]
                    row = {"kind": kind, "seed": seed, "K": strength, "q": q, "blobs": info["blobs"]}
                    for name, result in renders.items():
                        out = result.image
                        row[name] = psnr(_display(out), target)
                    rows.append(row)
                    if not getattr(args, "quiet", False):
                        print(f"{kind:15s} seed {seed} K {strength:4.0f} q {q}: " + " ".join(
                            f"{n} {row[n]:.2f}" for n in renders), flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--size", type=int, default=192)
    parser.add_argument("--renderer", default="scatter", choices=["scatter", "layered", "hybrid"])
    parser.add_argument("--split", default="test", choices=["test", "train"],
                        help="train: the validation cases used to pick the table's quantile")
    parser.add_argument("--jpeg-quality", type=int, default=None,
                        help="store the photo as a JPEG of this quality (4:2:0) instead of losslessly")
    parser.add_argument("--out", type=Path, default=None, help="also write the markdown report here")
    args = parser.parse_args()
    start = time.perf_counter()
    rows = evaluate(args)
    names = ["clipped", "reconstructed", "boost", "true radiance"]
    lines = [f"# Highlight reconstruction on ray-traced HDR scenes ({args.renderer})", "",
             f"`.venv/bin/python tools/eval_highlights.py --renderer {args.renderer}"
             + (f" --jpeg-quality {args.jpeg_quality}" if args.jpeg_quality else "") + f"` ({len(rows)} cases: "
             f"{args.seeds} test-split scenes per type, {args.size}x{args.size}, K 12 and 24, focus at the 10 % and "
             "90 % disparity quantiles; photo = pinhole render clipped and stored as 8-bit sRGB" + (f" (JPEG quality {args.jpeg_quality}, 4:2:0)" if args.jpeg_quality else "") + "; target = thin-lens "
             "render of the true radiance, clipped; PSNR in dB on sRGB values" + ("; for a JPEG the bound is the decoded photo "
             "with the clipped pixels at their true radiance" if args.jpeg_quality else "") + "). "
             f"{time.perf_counter() - start:.0f} s on this machine with the traces cached in {CACHE} (building them "
             "takes about 5 minutes).", "",
             "| scene type | cases | " + " | ".join(names) + " | gain / bound |", "|---" * (len(names) + 3) + "|"]
    for kind in [*HDR_KINDS, "all"]:
        sel = [r for r in rows if kind in ("all", r["kind"])]
        means = {n: float(np.mean([r[n] for r in sel])) for n in names}
        bound = means["true radiance"] - means["clipped"]
        share = (means["reconstructed"] - means["clipped"]) / bound if bound > 0.5 else float("nan")
        lines.append(f"| {kind} | {len(sel)} | " + " | ".join(f"{means[n]:.2f}" for n in names)
                     + f" | {share:.2f} |")
    worth = [r for r in rows if r["true radiance"] - r["clipped"] > 0.5]
    if worth:
        gain = np.mean([r["reconstructed"] - r["clipped"] for r in worth])
        bound = np.mean([r["true radiance"] - r["clipped"] for r in worth])
        lines += ["", f"Cases where the true radiance is worth > 0.5 dB: {len(worth)}; mean gain "
                  f"{gain:.2f} dB of a possible {bound:.2f} dB ({gain / bound:.0%})."]
    worst = min(rows, key=lambda r: r["reconstructed"] - r["clipped"])
    lines += [f"Worst case against no reconstruction: {worst['kind']} seed {worst['seed']} K {worst['K']:g} "
              f"q {worst['q']}: {worst['reconstructed'] - worst['clipped']:+.2f} dB.", "",
              "Per case:", "", "| type | seed | K | focus q | blobs | " + " | ".join(names) + " |",
              "|---" * (len(names) + 5) + "|"]
    for r in rows:
        lines.append(f"| {r['kind']} | {r['seed']} | {r['K']:g} | {r['q']} | {r['blobs']} | "
                     + " | ".join(f"{r[n]:.2f}" for n in names) + " |")
    report = "\n".join(lines) + "\n"
    print(report)
    if args.out:
        args.out.write_text(report)


if __name__ == "__main__":
    main()

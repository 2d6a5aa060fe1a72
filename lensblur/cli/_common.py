"""Helpers shared by several subcommands: argument types and the depth every render needs."""

from __future__ import annotations

import argparse
from pathlib import Path

import lensblur as lb
from lensblur.depth.refine_net import PRECISIONS, VIEW_COUNTS

__all__ = ["HelpFormatter", "_depth_model_args", "_ensure_depth", "_pair"]


class HelpFormatter(argparse.HelpFormatter):
    """Adds "(default: X)" to an option's help once, and only when there is a default worth stating (not None or
    False) and the help does not already say what happens by default."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if ("default" in text or action.default in (None, False, argparse.SUPPRESS)
                or action.option_strings == [] or action.nargs == 0):
            return text
        return text + " (default: %(default)s)"


def _pair(kind: type, names: str):
    def parse(text: str):
        parts = text.replace(" ", "").split(",")
        if len(parts) != 2:
            raise argparse.ArgumentTypeError(f"expected {names} separated by a comma (like 120,80); got {text!r}")
        try:
            return tuple(kind(p) for p in parts)
        except ValueError as err:
            raise argparse.ArgumentTypeError(f"expected two numbers {names}; got {text!r}") from err

    return parse


def _depth_model_args(parser: argparse.ArgumentParser) -> None:
    from lensblur.depth import DEFAULT_ESTIMATOR, ESTIMATORS

    parser.add_argument("--depth-model", choices=sorted(ESTIMATORS), default=DEFAULT_ESTIMATOR,
                        help="monocular estimator used when no depth is given or stored in the photo")
    parser.add_argument("--depth-model-dir", type=Path, default=None,
                        help="local folder with the estimator's weights (hf download REPO --local-dir DIR)")
    parser.add_argument("--allow-noncommercial", action="store_true",
                        help="allow estimators whose weights are licensed for non-commercial use only")
    parser.add_argument("--refine-depth", action="store_true",
                        help="upsample the depth to the photo and move its edges onto the photo's edges")
    parser.add_argument("--refine-method", choices=("learned", "guided"), default="learned",
                        help="with --refine-depth: the small refiner network shipped with lensblur (default) or "
                             "cost-volume guided filtering (no learned parameters)")
    parser.add_argument("--refine-views", type=int, choices=VIEW_COUNTS, default=1,
                        help="with --refine-method learned: average the refiner over this many mirrored / turned "
                             "views (steadier thin structures, that many times the time)")
    parser.add_argument("--refine-max-mp", type=float, default=None, metavar="MP",
                        help="with --refine-method learned: refine photos above this many megapixels at that size "
                             "and upsample with the photo as guide (faster on large photos, less exact at thin "
                             "structures); default: full resolution")
    parser.add_argument("--refine-precision", choices=PRECISIONS, default="auto",
                        help="with --refine-method learned: the refiner's arithmetic; auto: bfloat16 on a CPU with "
                             "bfloat16 matrix units (Intel AMX; about 3x faster, within 0.04 dB), else float32")


def _ensure_depth(scene: lb.Scene, args: argparse.Namespace, *, estimate: bool) -> lb.Scene:
    """The scene's depth: given or stored in the photo, else (or if ``estimate``) estimated; refined on request."""
    import dataclasses

    depth = None if estimate else scene.depth
    if depth is None:
        if not args.quiet:
            print(f"no depth given or stored in {args.photo.name}: estimating it with {args.depth_model}")
        depth = lb.depth.estimate_depth(scene.image, model=args.depth_model, weights_dir=args.depth_model_dir,
                                        allow_noncommercial=args.allow_noncommercial)
    if args.refine_depth:
        work_px = None if args.refine_max_mp is None else max(4096, int(args.refine_max_mp * 1e6))
        depth = lb.depth.refine_depth(depth, scene.image, method=args.refine_method, views=args.refine_views,
                                      work_px=work_px, precision=args.refine_precision)
    return dataclasses.replace(scene, depth=depth)

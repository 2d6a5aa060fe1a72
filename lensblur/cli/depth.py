"""``lensblur depth``: export a photo's depth (stored in it, or estimated)."""

from __future__ import annotations

import argparse
from pathlib import Path

import lensblur as lb
from lensblur.io.images import check_output_path

from ._common import HelpFormatter, _depth_model_args, _ensure_depth

__all__ = ["add_parser", "run"]


def add_parser(sub) -> None:
    """The ``depth`` subcommand's arguments."""
    parser = sub.add_parser("depth", help="export a photo's depth (stored in it, or estimated) as 16-bit disparity",
                        formatter_class=HelpFormatter)
    parser.add_argument("photo", type=Path, help="JPEG, PNG, TIFF, HEIC or camera RAW photo")
    parser.add_argument("-o", "--output", type=Path, required=True, help="disparity file (.png 16-bit, .tif, .npy, .pfm)")
    parser.add_argument("--preview", type=Path, default=None, help="colour preview (default: OUTPUT_preview.png)")
    parser.add_argument("--estimate", action="store_true", help="estimate even when the photo stores depth")
    _depth_model_args(parser)
    parser.add_argument("--overwrite", action="store_true", help="replace existing output files")
    parser.add_argument("--quiet", action="store_true")


def run(args: argparse.Namespace) -> int:
    preview = args.preview or args.output.with_name(args.output.stem + "_preview.png")
    check_output_path(args.output, overwrite=args.overwrite, inputs=[args.photo])
    check_output_path(preview, overwrite=args.overwrite, inputs=[args.photo, args.output])
    scene = _ensure_depth(lb.load_scene(args.photo), args, estimate=args.estimate)
    depth = lb.depth.resize_like(scene.depth.to_disparity(), scene.image.shape[-2:])
    written = lb.io.write_depth(args.output, depth, overwrite=args.overwrite)
    lb.save_image(preview, lb.io.disparity_preview(depth.values), bit_depth=8, overwrite=args.overwrite,
                  inputs=[args.photo, args.output])
    if not args.quiet:
        print(f"depth: {depth.source} ({depth.kind}, {depth.scale}); wrote {written} and {preview}")
    return 0

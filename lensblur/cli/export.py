"""``lensblur export``: export a learned renderer to ONNX."""

from __future__ import annotations

import argparse
from pathlib import Path

from lensblur.io.images import check_output_path

from ._common import HelpFormatter

__all__ = ["add_parser", "run"]


def add_parser(sub) -> None:
    """The ``export`` subcommand's arguments."""
    parser = sub.add_parser("export", help="export a learned renderer (MPFN, depth-aware blending) to ONNX",
                       formatter_class=HelpFormatter)
    parser.add_argument("--model", choices=("mpfn", "depth-blend", "pynet-bokeh", "bggan"), required=True)
    parser.add_argument("--weights", type=Path, required=True, help="model.safetensors from the training loop")
    parser.add_argument("-o", "--output", type=Path, required=True, help="the .onnx file")
    parser.add_argument("--check-size", type=int, nargs=2, default=[128, 192], metavar=("H", "W"),
                   help="size of the onnxruntime-vs-PyTorch parity check")
    parser.add_argument("--overwrite", action="store_true")


def run(args: argparse.Namespace) -> int:
    from lensblur.evaluation.learned import load_learned
    from lensblur.models.onnx import export_onnx, onnx_parity

    check_output_path(args.output, overwrite=args.overwrite, inputs=[args.weights])
    model = load_learned(args.model, args.weights)
    print(f"exporting {args.model} to {args.output} (the full MPFN takes a few minutes on a laptop CPU) ...")
    path = export_onnx(model, args.output)
    height, width = args.check_size
    diff = onnx_parity(model, path, height=height, width=width)
    print(f"wrote {path}; onnxruntime vs PyTorch at {height}x{width}: max abs difference {diff:.2e}")
    return 0 if diff < 1e-3 else 1

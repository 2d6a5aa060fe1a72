"""``lensblur apply``: render a photo with a trained learned renderer."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import lensblur as lb
from lensblur.io.images import check_output_path, with_description

from ._common import HelpFormatter

__all__ = ["add_parser", "run"]


def add_parser(sub) -> None:
    """The ``apply`` subcommand's arguments."""
    parser = sub.add_parser("apply", help="render a photo with a trained learned renderer (MPFN, depth-aware blending)",
                       formatter_class=HelpFormatter)
    parser.add_argument("photo", type=Path, help="JPEG, PNG or TIFF photo")
    parser.add_argument("-o", "--output", type=Path, required=True, help="output image (keeps ICC profile and EXIF)")
    parser.add_argument("--model", choices=("mpfn", "depth-blend"), required=True)
    parser.add_argument("--weights", type=Path, required=True, help="model.safetensors from the training loop")
    parser.add_argument("--save-mask", type=Path, default=None, help="MPFN: also write its salient mask (white = kept)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--overwrite", action="store_true")


def run(args: argparse.Namespace) -> int:
    import torch

    from lensblur.evaluation.learned import load_learned
    from lensblur.io.images import linear_to_srgb, srgb_to_linear
    from lensblur.models.depth_blend import depth_blend_render
    from lensblur.models.mpfn import mpfn_render

    check_output_path(args.output, overwrite=args.overwrite, inputs=[args.photo, args.weights])
    if args.save_mask is not None:
        if args.model != "mpfn":
            raise lb.InvalidParameterError("--save-mask needs --model mpfn (only MPFN predicts a salient mask)")
        check_output_path(args.save_mask, overwrite=args.overwrite, inputs=[args.photo, args.weights])
    model = load_learned(args.model, args.weights).to(args.device)
    photo, meta = lb.io.read_image(args.photo)
    display = linear_to_srgb(photo).to(args.device)
    start = time.perf_counter()
    with torch.no_grad():
        if args.model == "mpfn":
            out, mask = mpfn_render(model, display, with_mask=True)
        else:
            out, mask = depth_blend_render(model, display), None
    seconds = time.perf_counter() - start
    description = f"lensblur {lb.__version__}; renderer: {args.model} ({args.weights.name})"
    path = lb.io.write_image(args.output, srgb_to_linear(out.cpu()), meta=with_description(meta, description),
                             overwrite=args.overwrite)
    print(f"{args.model}: {photo.shape[-1]}x{photo.shape[-2]} in {seconds:.1f} s -> {path}")
    if mask is not None and args.save_mask is not None:
        mask_path = lb.io.write_image(args.save_mask, mask.cpu().expand(-1, 3, -1, -1).float(),
                                      overwrite=args.overwrite)
        print(f"salient mask (white = kept in focus) -> {mask_path}")
    return 0

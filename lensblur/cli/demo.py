"""The demo: the bundled Middlebury Motorcycle rendered at several settings, plus a contact sheet."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

import lensblur as lb
from lensblur.io import coc_preview, disparity_preview, linear_to_srgb

__all__ = ["DEMO_SETTINGS", "add_parser", "run", "run_demo"]

# (file stem, label, lens, focus, highlights[, renderer]); pixels are (x, y) in the 741x500 photo
DEMO_SETTINGS = [
    ("near_focus", "near focus (engine), K=25",
     lb.Lens(strength_px=25), lb.Focus.at_pixel(x=390, y=300), None),
    ("far_focus", "far focus (shelves), K=25",
     lb.Lens(strength_px=25), lb.Focus.at_pixel(x=620, y=60), None),
    ("hexagon_highlights", "6 blades + highlights, K=30",
     lb.Lens(strength_px=30, aperture=lb.Aperture(blades=6, rotation_deg=15)), lb.Focus.at_pixel(x=390, y=300),
     lb.Highlights()),
    ("circle_highlights", "circle + highlights, K=30",
     lb.Lens(strength_px=30), lb.Focus.at_pixel(x=390, y=300), lb.Highlights()),
    ("focus_band", "whole bike sharp (band), K=30",
     lb.Lens(strength_px=30), lb.Focus.at_pixel(x=390, y=300, tolerance=0.12), None),
    ("far_focus_hybrid", "far focus, hybrid (BokehMe), K=25",
     lb.Lens(strength_px=25), lb.Focus.at_pixel(x=620, y=60), None, "hybrid"),
]


def _thumbnail(image: torch.Tensor, width: int) -> np.ndarray:
    height = round(image.shape[-2] * width / image.shape[-1])
    small = torch.nn.functional.interpolate(image, size=(height, width), mode="area")
    return (linear_to_srgb(small)[0].permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)


def _contact_sheet(tiles: list[tuple[str, torch.Tensor]], path: Path, *, overwrite: bool) -> None:
    from PIL import Image, ImageDraw

    width, columns, label_h = 370, 3, 22
    thumbs = [(label, _thumbnail(image, width)) for label, image in tiles]
    tile_h = thumbs[0][1].shape[0] + label_h
    rows = (len(thumbs) + columns - 1) // columns
    sheet = Image.new("RGB", (columns * width, rows * tile_h), "white")
    draw = ImageDraw.Draw(sheet)
    for k, (label, thumb) in enumerate(thumbs):
        x, y = (k % columns) * width, (k // columns) * tile_h
        sheet.paste(Image.fromarray(thumb), (x, y + label_h))
        draw.text((x + 6, y + 5), label, fill="black")
    rgb = torch.from_numpy(np.asarray(sheet, dtype=np.float32) / 255).permute(2, 0, 1)[None]
    lb.save_image(path, lb.io.srgb_to_linear(rgb), overwrite=overwrite)


def _edge_crops(scene: lb.Scene, first: lb.RenderResult, out: Path, written: list[Path], *,
                overwrite: bool) -> list[tuple[str, torch.Tensor]]:
    """The first setting's render (``first``, the default renderer) beside the scatter's, cropped where they
    differ most (a depth edge: the scatter's hard outline or halo beside the layered renderer's
    see-through edge)."""
    _, _, lens, focus, _, *_ = DEMO_SETTINGS[0]
    scatter = lb.render(scene, lens=lens, focus=focus, renderer="scatter").image
    layered = first.image
    height, width = scatter.shape[-2] // 4, scatter.shape[-1] // 4
    difference = (linear_to_srgb(scatter) - linear_to_srgb(layered)).abs().mean(1, keepdim=True)
    window = torch.nn.functional.avg_pool2d(difference, (height, width), stride=4)
    y, x = divmod(int(window.flatten().argmax()), window.shape[-1])
    y, x = 4 * y, 4 * x
    crops = []
    for name, image in (("scatter", scatter), (first.extras["renderer"], layered)):
        crop = image[..., y:y + height, x:x + width]
        written.append(lb.save_image(out / f"depth_edge_{name}.png", crop, overwrite=overwrite))
        crops.append((f"depth edge at ({x}, {y}), {name}, 2x", crop))
    return crops


def run_demo(out: Path, *, overwrite: bool = False, progress: bool = True) -> list[Path]:
    """Render the sample at every DEMO_SETTINGS entry into ``out``; return the files written."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    scene = lb.io.motorcycle()
    filled = lb.depth.fill_holes(scene.depth)
    written = [lb.save_image(out / "input.png", scene.image, overwrite=overwrite),
               lb.save_image(out / "disparity.png", disparity_preview(filled.values), overwrite=overwrite)]
    tiles = [("input", scene.image), ("disparity (holes filled)", disparity_preview(filled.values))]
    first = None
    for stem, label, lens, focus, highlights, *renderer in DEMO_SETTINGS:
        start = time.perf_counter()
        result = lb.render(scene, lens=lens, focus=focus, highlights=highlights, progress=False,
                           renderer=renderer[0] if renderer else None)
        seconds = time.perf_counter() - start
        written.append(lb.save_image(out / f"{stem}.png", result.image, overwrite=overwrite))
        written.append(lb.save_image(out / f"{stem}_coc.png", coc_preview(result.coc_px), overwrite=overwrite))
        tiles.append((label, result.image))
        first = first or result
        if progress:
            print(f"  {stem:<20} {label:<34} {seconds:6.2f} s")
    tiles += _edge_crops(scene, first, out, written, overwrite=overwrite)
    sheet = out / "contact_sheet.png"
    _contact_sheet(tiles, sheet, overwrite=overwrite)
    written.append(sheet)
    print(f"Demo done: {len(written)} files in {out.resolve()}")
    print(f"  contact sheet (input | disparity | renders | a depth edge, scatter beside layered): {sheet.resolve()}")
    return written


def add_parser(sub) -> None:
    """The ``demo`` subcommand's arguments."""
    parser = sub.add_parser("demo", help="render the bundled Middlebury sample at several settings")
    parser.add_argument("--out", type=Path, default=Path("outputs/demo"), help="folder for the results")
    parser.add_argument("--overwrite", action="store_true", help="replace results of an earlier demo run")
    parser.add_argument("--quiet", action="store_true")


def run(args) -> int:
    """Run ``lensblur demo``."""
    run_demo(args.out, overwrite=args.overwrite, progress=not args.quiet)
    return 0

"""The README figure: a night street of point lights, rendered from the clipped photo with and without
highlight reconstruction, beside the ray-traced truth.

    .venv/bin/python tools/highlights_figure.py --out docs/highlights_street.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

import lensblur as lb
from lensblur.io.colour import srgb_encode
from lensblur.io.images import ImageMeta
from lensblur.synth import trace_all_in_focus, trace_defocus
from lensblur.synth.hdr import GAMMA, make_hdr_scene


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/highlights_street.png"))
    parser.add_argument("--seed", type=int, default=10, help="10: the most visible lights of seeds 0-11")
    args = parser.parse_args()
    from PIL import Image, ImageDraw

    height, width, strength = 240, 320, 18.0
    scene = make_hdr_scene(args.seed, "street", "test", height, width, margin=40)
    base = trace_all_in_focus(scene, (GAMMA,))
    focus = float(np.quantile(base.disparity, 0.95))
    truth = trace_defocus(scene, strength_px=strength, focus_disparity=focus, gammas=(GAMMA,)).bokeh_linear[0]
    radiance = torch.from_numpy(base.all_in_focus_linear[0]).permute(2, 0, 1)[None]
    codes = torch.round(srgb_encode(radiance.clamp(0, 1)) * 255) / 255
    photo = lb.Scene(lb.io.srgb_to_linear(codes), meta=ImageMeta(bit_depth=8))
    coc = torch.from_numpy(strength * (base.disparity - focus))[None, None].float()
    plain = lb.render(photo, coc_px=coc).image
    bright = lb.render(photo, coc_px=coc, highlights=lb.Highlights()).image
    tiles = [("photo (clipped, 8-bit)", photo.image), ("render, no reconstruction", plain),
             ("render, Highlights()", bright), ("ray-traced truth", torch.from_numpy(truth).permute(2, 0, 1)[None])]
    label_h = 20
    sheet = Image.new("RGB", (len(tiles) * width, height + label_h), "white")
    draw = ImageDraw.Draw(sheet)
    for k, (label, image) in enumerate(tiles):
        pixels = (srgb_encode(image.clamp(0, 1))[0].permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)
        sheet.paste(Image.fromarray(pixels), (k * width, label_h))
        draw.text((k * width + 6, 4), label, fill="black")
    sheet.save(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

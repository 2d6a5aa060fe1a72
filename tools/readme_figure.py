"""The README's before/after picture: the bundled Middlebury Motorcycle, as shot and rendered by lensblur.

    .venv/bin/python tools/readme_figure.py --out docs/before_after.jpg
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

import lensblur as lb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/before_after.jpg"))
    args = parser.parse_args()
    scene = lb.io.motorcycle()
    result = lb.render(scene, lens=lb.Lens(strength_px=25, aperture=lb.Aperture(blades=7, roundness=0.3)),
                       focus=lb.Focus.at_pixel(x=390, y=300), highlights=lb.Highlights())
    before = lb.RenderResult(scene.image, result.coc_px).to_pil()
    after = result.to_pil()
    width, height = before.size
    sheet = Image.new("RGB", (2 * width + 8, height + 24), "white")
    sheet.paste(before, (0, 24))
    sheet.paste(after, (width + 8, 24))
    draw = ImageDraw.Draw(sheet)
    draw.text((6, 6), "photo (Middlebury 2014 Motorcycle)", fill="black")
    draw.text((width + 14, 6), "lensblur: focus on the engine, K = 25, 7 blades, highlights", fill="black")
    sheet.resize((sheet.width * 3 // 4, sheet.height * 3 // 4), Image.LANCZOS).save(args.out, quality=88)
    print(f"wrote {args.out} ({np.prod(sheet.size)} px before the resize)")


if __name__ == "__main__":
    main()

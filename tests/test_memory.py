"""24-megapixel photos must render within 4 GB of peak memory (the issue's budget for this machine), with the
default (layered) renderer on a photo with depth jumps."""

import resource
import subprocess
import sys

import numpy as np
import pytest


@pytest.mark.slow
def test_24_megapixel_render_stays_under_4_gb(tmp_path):
    import cv2
    from PIL import Image

    height, width = 4000, 6000
    rng = np.random.default_rng(0)
    small = rng.integers(0, 256, (height // 8, width // 8, 3), dtype=np.uint8)
    Image.fromarray(small).resize((width, height)).save(tmp_path / "big.jpg", quality=90)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    disparity = 0.3 + 0.2 * np.sin(xx / 900.0) * np.cos(yy / 700.0)
    subject = ((xx - 3000) / 1200) ** 2 + ((yy - 2300) / 1500) ** 2 < 1   # a portrait's subject: depth jumps
    disparity[subject] = 0.9                                               # for the (default) layered renderer
    cv2.imwrite(str(tmp_path / "big_disp.png"), np.round(disparity * 65535).astype(np.uint16))
    del yy, xx, disparity, subject
    command = [sys.executable, "-m", "lensblur.cli", "render", str(tmp_path / "big.jpg"), "--depth",
               str(tmp_path / "big_disp.png"), "--depth-kind", "disparity", "-o", str(tmp_path / "out.jpg"),
               "--blur", "50", "--blades", "6", "--highlights", "--quiet"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    subprocess.run(command, check=True)
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    assert (tmp_path / "out.jpg").exists()
    assert peak_mb < 4096, f"peak RSS {peak_mb:.0f} MB (before: {before / 1024:.0f} MB)"

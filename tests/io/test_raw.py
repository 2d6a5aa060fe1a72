"""Camera RAW through LibRaw: a DNG written here (RGGB mosaic, 12-bit, black 256, white 4095) reads back as
the scene's linear values, the saturated light reads exactly 1.0 and is reconstructed as a clipped light."""

import numpy as np
import pytest
import torch

import lensblur as lb
from lensblur.errors import FileFormatError, MissingDependencyError

rawpy = pytest.importorskip("rawpy")
tifffile = pytest.importorskip("tifffile")

COLOUR = (0.5, 0.3, 0.2)


def _dng(path, h=64, w=96):
    scene = np.empty((h, w, 3))
    scene[:] = COLOUR
    scene[24:32, 44:52] = 3.0                       # a light three times the sensor's saturation
    mosaic = np.empty((h, w))
    mosaic[0::2, 0::2] = scene[0::2, 0::2, 0]       # R G
    mosaic[0::2, 1::2] = scene[0::2, 1::2, 1]       # G B
    mosaic[1::2, 0::2] = scene[1::2, 0::2, 1]
    mosaic[1::2, 1::2] = scene[1::2, 1::2, 2]
    raw = np.clip(256 + mosaic * (4095 - 256), 0, 4095).astype(np.uint16)
    # ColorMatrix1 (XYZ → camera) = XYZ → linear sRGB, so the camera's space is linear sRGB itself
    xyz_to_srgb = ((32406, -15372, -4986), (-9689, 18758, 415), (557, -2040, 10570))
    matrix = tuple(v for row in xyz_to_srgb for c in row for v in (c, 10000))
    tags = [(50706, "B", 4, (1, 4, 0, 0), True), (50708, "s", 0, "lensblur test camera", True),
            (33421, "H", 2, (2, 2), True), (33422, "B", 4, (0, 1, 1, 2), True), (50714, "H", 1, (256,), True),
            (50717, "H", 1, (4095,), True), (50721, "2i", 9, matrix, True),
            (50728, "2I", 3, (1, 1, 1, 1, 1, 1), True), (50778, "H", 1, (21,), True)]
    tifffile.imwrite(path, raw, photometric=32803, compression=None, extratags=tags, subfiletype=0)
    return path


def test_a_dng_reads_as_linear_light_with_saturation_at_one(tmp_path):
    image, meta = lb.read_image(_dng(tmp_path / "shot.dng"))
    assert image.shape == (1, 3, 64, 96) and meta.bit_depth == 16
    flat = image[0, :, 4:16, 4:16].mean(dim=(1, 2))
    assert torch.allclose(flat, torch.tensor(COLOUR), atol=0.01)        # linear, no gamma, no brightening
    assert float(image[0, :, 26:30, 46:50].min()) >= 1 - 2 / 65535   # the saturated light: full scale


def test_the_saturated_light_is_reconstructed_as_a_clipped_light(tmp_path):
    image, meta = lb.read_image(_dng(tmp_path / "shot.dng"))
    scene = lb.Scene(image, lb.DepthMap(torch.zeros(1, 1, 64, 96), kind="disparity", scale="relative"), meta=meta)
    coc = torch.full((1, 1, 64, 96), -6.0)
    plain = lb.render(scene, coc_px=coc).image
    lit = lb.render(scene, coc_px=coc, highlights=lb.Highlights())
    assert lit.extras["highlights"]["blobs"] >= 1
    assert float(lit.image.sum()) > float(plain.sum()) * 1.01            # the light's lost energy comes back


def test_unreadable_raw_and_missing_rawpy_get_clear_errors(tmp_path, monkeypatch):
    bad = tmp_path / "broken.nef"
    bad.write_bytes(b"not a raw file at all" * 10)
    with pytest.raises(FileFormatError, match="cannot be read by LibRaw"):
        lb.read_image(bad)
    import sys

    monkeypatch.setitem(sys.modules, "rawpy", None)        # as if it were not installed
    with pytest.raises(MissingDependencyError, match=r"pip install 'lensblur\[raw\]'"):
        lb.read_image(tmp_path / "shot.dng")

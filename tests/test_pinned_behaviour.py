"""Tests that kill realistic bugs a mutation spot-check found surviving (issue #20)."""

import math

import numpy as np
import pytest
import torch
from PIL import Image

import lensblur as lb
from lensblur.evaluation.metrics import masked_psnr
from lensblur.optics.apertures import footprint
from lensblur.render.classical.highlights import boost_highlights


def test_blade_rotation_is_counter_clockwise_as_seen_in_the_image():
    """5 blades (no mirror symmetry about the vertical after turning), rotated 20 degrees: the top vertex moves to
    the left of the centre (x = column, y = row; counter-clockwise on screen)."""
    dy0, dx0, cover = footprint(20.0, lb.Aperture(blades=5, rotation_deg=20.0))
    rows, cols = np.nonzero(cover > 0.5)
    top = rows.min()
    x_top = float(cols[rows == top].mean()) + dx0
    assert x_top == pytest.approx(-20.0 * math.sin(math.radians(20.0)), abs=1.5)
    _, dx0_r, cover_r = footprint(20.0, lb.Aperture(blades=5, rotation_deg=-20.0))
    rows_r, cols_r = np.nonzero(cover_r > 0.5)
    assert float(cols_r[rows_r == rows_r.min()].mean()) + dx0_r == pytest.approx(-x_top, abs=1.0)


def test_boost_factor_at_below_and_above_its_blur_onset():
    image = torch.ones(1, 3, 1, 4)  # full brightness: m_bright = 1
    coc = torch.tensor([1.0, 1.5, 2.25, 3.0]).view(1, 1, 1, 4)
    out = boost_highlights(image, coc, lb.HighlightBoost(threshold=0.75, gain=3.0, min_blur_px=1.5))
    np.testing.assert_allclose(out[0, 0, 0].numpy(), [1.0, 1.0, 2.5, 4.0], rtol=1e-6)
    half = boost_highlights(torch.full((1, 3, 1, 1), 0.875), torch.full((1, 1, 1, 1), 3.0), lb.HighlightBoost())
    assert float(half[0, 0, 0, 0]) == pytest.approx(0.875 * (1 + 3.0 * 0.5))  # half-way up the brightness ramp


def test_masked_psnr_known_values_ignore_pixels_outside_the_mask():
    a = np.zeros((4, 4, 3))
    b = np.zeros((4, 4, 3))
    b[:2] = 0.1  # error 0.1 on the top half
    b[2:] = 0.9  # and a huge one on the bottom half, outside the mask
    mask = np.zeros((4, 4), bool)
    mask[:2] = True
    assert masked_psnr(a, b, mask) == pytest.approx(20.0)  # 10 log10(1 / 0.01), peak 1
    assert math.isnan(masked_psnr(a, b, np.zeros((4, 4), bool)))


def test_a_transparent_image_is_refused_and_an_opaque_rgba_is_read(tmp_path):
    rgba = np.zeros((6, 8, 4), np.uint8)
    rgba[..., :3] = 200
    rgba[..., 3] = 255
    Image.fromarray(rgba, "RGBA").save(tmp_path / "opaque.png")
    assert lb.read_image(tmp_path / "opaque.png")[0].shape == (1, 3, 6, 8)
    rgba[:3, :, 3] = 0
    Image.fromarray(rgba, "RGBA").save(tmp_path / "cutout.png")
    with pytest.raises(lb.FileFormatError, match=r"has transparent pixels \(50% of them\).*Flatten it"):
        lb.read_image(tmp_path / "cutout.png")

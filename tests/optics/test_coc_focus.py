import numpy as np
import pytest
import torch

from lensblur.errors import InputError, InvalidParameterError
from lensblur.optics import coc_diameter_mm, focus_at_pixel, resolve_focus, signed_coc_px, thin_lens_strength_px
from lensblur.types import DepthMap, Focus


def test_signed_coc_sign_convention_and_band():
    d = torch.tensor([0.0, 0.3, 0.45, 0.6, 1.0])
    r = signed_coc_px(d, far=0.4, near=0.5, strength_px=20)
    torch.testing.assert_close(r, torch.tensor([-8.0, -2.0, 0.0, 2.0, 10.0]))


def test_negative_blur_is_rejected():
    with pytest.raises(InputError, match="strength_px must be a finite number >= 0; got -3"):
        signed_coc_px(torch.zeros(3), far=0.5, near=0.5, strength_px=-3)


@pytest.mark.parametrize("model", ["thin-lens", "fixed-sensor"])
def test_photographic_radius_matches_the_textbook_formula(model):
    depth_m = torch.tensor([0.8, 1.5, 2.0, 4.0, 30.0], dtype=torch.float64)
    focus_m, n, f, width_px, sensor = 2.0, 1.8, 85.0, 6000, 36.0
    k = thin_lens_strength_px(f_number=n, focal_length_mm=f, focus_distance_m=focus_m, image_width_px=width_px,
                              sensor_width_mm=sensor, coc_model=model)
    radius = signed_coc_px(1 / depth_m, far=1 / focus_m, near=1 / focus_m, strength_px=k)
    diameter = coc_diameter_mm(depth_m, f_number=n, focal_length_mm=f, focus_distance_m=focus_m, coc_model=model)
    expected = diameter / 2 * width_px / sensor * torch.sign(focus_m - depth_m)
    torch.testing.assert_close(radius, expected)
    # hand check of the thin-lens case at z = 4 m: (85/1.8)*85*2000/(4000*1915) = 1.0482 mm
    if model == "thin-lens":
        assert float(diameter[3]) == pytest.approx(85 / 1.8 * 85 * 2000 / (4000 * 1915), rel=1e-9)
    else:  # Cycles: (f/N) f |z-S| / (z S)
        assert float(diameter[3]) == pytest.approx(85 / 1.8 * 85 * 2000 / (4000 * 2000), rel=1e-9)


def test_focus_closer_than_focal_length_is_rejected():
    with pytest.raises(InvalidParameterError, match="not beyond the focal length"):
        thin_lens_strength_px(f_number=2, focal_length_mm=50, focus_distance_m=0.04, image_width_px=100)


def test_focus_at_pixel_is_the_window_median():
    rng = np.random.default_rng(4)
    values = rng.uniform(0, 1, (30, 40)).astype(np.float32)
    depth = DepthMap(torch.from_numpy(values)[None, None], kind="disparity", scale="relative")
    assert focus_at_pixel(depth, x=10, y=7, window_px=5) == pytest.approx(float(np.median(values[5:10, 8:13])))
    assert focus_at_pixel(depth, x=0, y=0, window_px=5) == pytest.approx(float(np.median(values[0:3, 0:3])))


def test_focus_outside_the_image_names_the_size():
    depth = DepthMap(torch.zeros(1, 1, 30, 40), kind="disparity", scale="relative")
    with pytest.raises(InputError, match=r"focus point \(x=40, y=3\) is outside the image, which is 40 wide and 30 tall"):
        focus_at_pixel(depth, x=40, y=3)


def test_resolve_focus_modes():
    depth = DepthMap(torch.full((1, 1, 4, 4), 0.25), kind="disparity", scale="metric")
    assert resolve_focus(Focus.at_pixel(x=1, y=1, tolerance=0.05), depth) == pytest.approx((0.2, 0.3))
    assert resolve_focus(Focus.at_distance(2.0), depth) == (0.5, 0.5)
    assert resolve_focus(Focus.between(0.1, 0.4), depth) == (0.1, 0.4)
    relative = DepthMap(torch.zeros(1, 1, 4, 4), kind="disparity", scale="relative")
    with pytest.raises(InvalidParameterError, match="needs metric depth"):
        resolve_focus(Focus.at_distance(2.0), relative)


@pytest.mark.parametrize("kwargs, message", [
    ({}, "Focus needs exactly one of"),
    ({"disparity": 0.5, "pixel": (1, 1)}, "Focus needs exactly one of"),
    ({"band": (0.6, 0.2)}, "far <= near"),
    ({"distance_m": -1.0}, "positive distance"),
])
def test_bad_focus(kwargs, message):
    with pytest.raises(InvalidParameterError, match=message):
        Focus(**kwargs)

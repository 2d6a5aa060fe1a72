import subprocess
import sys

import numpy as np
import pytest
import torch

import lensblur as lb
from lensblur.errors import InputError, InvalidParameterError, UnknownNameError


def _scene(tiny_scene, kind="disparity", scale="relative"):
    return lb.Scene(tiny_scene.image, lb.DepthMap(tiny_scene.disparity, kind=kind, scale=scale))


def test_render_builds_the_blur_map_from_depth(tiny_scene):
    result = lb.render(_scene(tiny_scene), lens=lb.Lens(strength_px=4), focus=lb.Focus.at_pixel(x=16, y=16))
    # the near square (disparity 0.9, normalised 1.0) is in focus; the far plane is behind it
    assert result.focus_band == (1.0, 1.0)
    assert float(result.coc_px[..., 16, 16]) == 0.0
    normalised = (tiny_scene.disparity - 0.2) / (0.9 - 0.2)
    torch.testing.assert_close(result.coc_px, 4 * (normalised - 1.0))
    # the square's centre is farther from the blurred plane than any radius there (<= 4 px): untouched
    torch.testing.assert_close(result.image[..., 14:18, 14:18], tiny_scene.image[..., 14:18, 14:18])


def test_precomputed_blur_map_is_used_as_given(tiny_scene):
    coc = torch.full_like(tiny_scene.disparity, 3.0)
    result = lb.render(lb.Scene(tiny_scene.image), coc_px=coc, return_dilated=True)
    expected = lb.scatter_blur(tiny_scene.image, coc).image
    torch.testing.assert_close(result.image, expected)
    assert torch.equal(result.dilated_coc_px, torch.full_like(coc, 3.0))


def test_photographic_lens_on_metric_depth(tiny_scene):
    depth_m = torch.full_like(tiny_scene.disparity, 4.0)
    depth_m[..., :, 16:] = 2.0
    scene = lb.Scene(tiny_scene.image, lb.DepthMap(depth_m, kind="depth", scale="metric"))
    lens = lb.Lens(f_number=2.0, focal_length_mm=50.0, sensor_width_mm=36.0)
    result = lb.render(scene, lens=lens, focus=lb.Focus.at_distance(2.0))
    diameter_mm = lb.optics.coc_diameter_mm(torch.tensor(4.0), f_number=2.0, focal_length_mm=50.0, focus_distance_m=2.0)
    expected_px = float(diameter_mm) / 2 * 32 / 36.0
    assert float(result.coc_px[0, 0, 0, 0]) == pytest.approx(-expected_px, rel=1e-5)
    assert float(result.coc_px[0, 0, 0, 20]) == 0.0
    with pytest.raises(InvalidParameterError, match="needs metric depth"):
        lb.render(_scene(tiny_scene), lens=lens, focus=lb.Focus.at_distance(2.0))


def test_boost_only_brightens_out_of_focus_bright_pixels():
    image = torch.full((1, 3, 20, 40), 0.1)
    image[..., 10, 5] = 1.0   # in focus
    image[..., 10, 30] = 1.0  # out of focus
    coc = torch.zeros(1, 1, 20, 40)
    coc[..., 20:] = 6.0
    boosted = lb.render(lb.Scene(image), coc_px=coc, boost=lb.HighlightBoost(gain=3.0), renderer="scatter")
    plain = lb.render(lb.Scene(image), coc_px=coc, renderer="scatter")
    assert torch.equal(boosted.image[..., :12], plain.image[..., :12])
    energy = lambda r: float(r.image[..., 22:38].sum())  # noqa: E731
    assert energy(boosted) > energy(plain) + 5.0


def test_render_errors(tiny_scene):
    with pytest.raises(InputError, match="the scene has no depth map"):
        lb.render(lb.Scene(tiny_scene.image), lens=lb.Lens(strength_px=5), focus=lb.Focus.at_disparity(0.5))
    with pytest.raises(InvalidParameterError, match="render needs lens="):
        lb.render(_scene(tiny_scene))
    with pytest.raises(UnknownNameError, match="Unknown renderer 'scater'.*Did you mean 'scatter'"):
        lb.render(_scene(tiny_scene), lens=lb.Lens(strength_px=5), focus=lb.Focus.at_disparity(0.5), renderer="scater")
    with pytest.raises(InputError, match="focus point .* is outside the image"):
        lb.render(_scene(tiny_scene), lens=lb.Lens(strength_px=5), focus=lb.Focus.at_pixel(x=99, y=0))
    flat = lb.Scene(tiny_scene.image, lb.DepthMap(torch.ones(1, 1, 32, 32), kind="disparity", scale="relative"))
    with pytest.raises(InputError, match="depth is constant"):
        lb.render(flat, lens=lb.Lens(strength_px=5), focus=lb.Focus.at_disparity(0.5))
    with pytest.raises(InvalidParameterError, match="Lens.strength_px .* must be finite and >= 0; got -1"):
        lb.Lens(strength_px=-1)
    with pytest.raises(InvalidParameterError, match="either strength_px"):
        lb.Lens(strength_px=3, f_number=2, focal_length_mm=50)


def test_import_is_light():
    code = ("import sys, lensblur; heavy = [m for m in ('numba', 'skimage', 'cv2', 'tifffile', 'OpenEXR', 'scipy') "
            "if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_sample_scene_has_true_disparity_with_holes():
    scene = lb.io.motorcycle()
    assert scene.image.shape == (1, 3, 500, 741)
    values = scene.depth.values
    holes = torch.isnan(values).float().mean()
    assert 0.06 < float(holes) < 0.09
    assert 7.0 < float(values[~torch.isnan(values)].min()) and float(values[~torch.isnan(values)].max()) < 61
    assert torch.isfinite(lb.depth.fill_holes(scene.depth).values).all()
    assert np.isclose(float(scene.image.max()), 1.0, atol=0.01)


def test_the_default_renderer_is_layered_and_falls_back_to_the_scatter_when_memory_is_short(tiny_scene):
    from lensblur.render.memory import estimate_bytes

    scene = lb.Scene(tiny_scene.image, lb.DepthMap(tiny_scene.disparity, kind="disparity", scale="relative"))
    args = dict(lens=lb.Lens(strength_px=6), focus=lb.Focus.at_disparity(0.5))
    assert lb.DEFAULT_RENDERER == "layered" and lb.render(scene, **args).extras["renderer"] == "layered"
    h, w = tiny_scene.image.shape[-2:]
    between = 0.5 * (estimate_bytes(h, w, "scatter") + estimate_bytes(h, w, "layered")) / 1e9
    with pytest.warns(lb.RendererFallbackWarning, match="Rendering with the scatter instead"):
        fallen = lb.render(scene, max_memory_gb=between, **args)
    assert fallen.extras["renderer"] == "scatter"
    assert torch.equal(fallen.image, lb.render(scene, renderer="scatter", **args).image)
    with pytest.raises(lb.InvalidParameterError, match="with the layered renderer needs about"):
        lb.render(scene, renderer="layered", max_memory_gb=between, **args)    # a renderer asked for is not swapped

"""The thin-lens layer tracer against analytic cases: convolution, partial occlusion, aperture orientation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.signal import fftconvolve

from lensblur.errors import InvalidParameterError
from lensblur.optics.apertures import outline_radius
from lensblur.synth import Layer, LayeredScene, make_scene, trace_all_in_focus, trace_defocus
from lensblur.types import Aperture


def _scene(layers, size, margin):
    return LayeredScene(tuple(layers), size, size, margin, 0, "test")


def _opaque(rgb: np.ndarray, plane, name="layer") -> Layer:
    alpha = np.ones(rgb.shape[:2] + (1,), np.float32)
    return Layer(np.dstack([rgb, alpha]).astype(np.float32), plane, name)


def _exact_kernel(radius: float, aperture: Aperture, ss: int = 32) -> np.ndarray:
    """Area of the aperture of radius |r| inside each pixel, by ss x ss sub-samples (pixel units).

    Returned as a correlation kernel: out(p) = sum_q k[q - p] T(q), with the flip of a foreground
    (r > 0) blur already applied, i.e. the sample at offset d comes from aperture point u = d / r.
    """
    half = int(math.ceil(abs(radius))) + 1
    axis = (np.arange((2 * half + 1) * ss) + 0.5) / ss - half - 0.5
    dx, dy = np.meshgrid(axis, axis)
    u, v = dx / radius, dy / radius
    inside = (np.hypot(u, v) <= outline_radius(np.arctan2(-v, u), aperture)).astype(np.float64)
    k = inside.reshape(2 * half + 1, ss, 2 * half + 1, ss).sum(axis=(1, 3))
    return k / k.sum()


@pytest.mark.parametrize("radius", [-6.5, 4.0])
@pytest.mark.parametrize("aperture", [Aperture(), Aperture(blades=5, rotation_deg=10)], ids=["circle", "5-blade"])
def test_single_fronto_parallel_layer_is_a_convolution_with_the_aperture(radius, aperture):
    size, margin = 40, 10
    rng = np.random.default_rng(1)
    texture = rng.uniform(0.0, 1.0, (size + 2 * margin, size + 2 * margin, 3)).astype(np.float32)
    d = 0.5 + radius / 10.0
    scene = _scene([_opaque(texture, (d, 0.0, 0.0))], size, margin)
    gt = trace_defocus(scene, strength_px=10.0, focus_disparity=0.5, aperture=aperture, gammas=(1.0,),
                       cell_px=0.5)
    k = _exact_kernel(radius, aperture)
    # correlation = convolution with the flipped kernel
    expected = np.stack([fftconvolve(texture[..., c], k[::-1, ::-1], mode="same") for c in range(3)], -1)
    expected = expected[margin:margin + size, margin:margin + size]
    err = np.abs(gt.bokeh_linear[0] - expected)
    assert err.max() < 2e-3 and err.mean() < 3e-4, (err.max(), err.mean())


def test_custom_kernel_aperture_is_its_image_scaled_to_the_blur_diameter():
    """A kernel image of a centred square (half the side of its bounding square) blurs like a box."""
    size, margin, r = 36, 10, 8.0
    texture = np.random.default_rng(4).uniform(0, 1, (size + 2 * margin,) * 2 + (3,)).astype(np.float32)
    kernel = np.zeros((8, 8))
    kernel[2:6, 2:6] = 1.0  # the square |u|, |v| <= 0.5 of the unit aperture
    scene = _scene([_opaque(texture, (0.5 - r / 10.0, 0.0, 0.0))], size, margin)
    gt = trace_defocus(scene, strength_px=10.0, focus_disparity=0.5, aperture=Aperture(kernel=kernel),
                       gammas=(1.0,), cell_px=0.5)
    # a box of side 2 * 0.5 * r = 8 px centred on a pixel centre covers 7 full texels and two half texels per axis
    line = np.array([0.5] + [1.0] * 7 + [0.5]) / 8.0
    k = np.outer(line, line)
    expected = np.stack([fftconvolve(texture[..., c], k, mode="same") for c in range(3)], -1)
    expected = expected[margin:margin + size, margin:margin + size]
    assert np.abs(gt.bokeh_linear[0] - expected).max() < 2e-3


def test_accuracy_improves_with_finer_aperture_cells():
    size, margin = 32, 10
    texture = np.random.default_rng(2).uniform(0, 1, (size + 2 * margin,) * 2 + (3,)).astype(np.float32)
    scene = _scene([_opaque(texture, (0.0, 0.0, 0.0))], size, margin)
    k = _exact_kernel(-7.0, Aperture())
    expected = fftconvolve(texture[..., 0], k[::-1, ::-1], mode="same")[margin:-margin, margin:-margin]
    errors = [np.abs(trace_defocus(scene, strength_px=14.0, focus_disparity=0.5, gammas=(1.0,),
                                   cell_px=c).bokeh_linear[0, ..., 0] - expected).mean() for c in (3.0, 1.0, 0.4)]
    assert errors[0] > errors[1] > errors[2]


def _segment_fraction(h: np.ndarray) -> np.ndarray:
    """Fraction of the unit disc with u_x >= h."""
    h = np.clip(h, -1.0, 1.0)
    return (np.arccos(h) - h * np.sqrt(1.0 - h * h)) / math.pi


@pytest.mark.parametrize("occluder_radius", [6.0, 11.5])
def test_blurred_occluder_edge_matches_the_circular_segment_profile(occluder_radius):
    """A black half-plane at blur radius r1 in front of an in-focus white wall.

    The ray of pixel p through aperture point u passes the occluder plane at p + r1·u, so p sees the
    wall through the part of the aperture with p_x + r1·u_x >= x0: a circular segment.
    """
    size, margin = 48, 16
    side = size + 2 * margin
    white = np.ones((side, side, 3), np.float32)
    occluder = np.zeros((side, side, 4), np.float32)
    edge_col = margin + size // 2  # texels left of this column are opaque
    occluder[:, :edge_col, 3] = 1.0
    strength = 10.0
    scene = _scene([_opaque(white, (0.2, 0.0, 0.0), "wall"),
                    Layer(occluder, (0.2 + occluder_radius / strength, 0.0, 0.0), "occluder")], size, margin)
    gt = trace_defocus(scene, strength_px=strength, focus_disparity=0.2, gammas=(1.0,), cell_px=0.5)
    x0 = edge_col - margin - 0.5  # the occluder edge in canvas coordinates
    x = np.arange(size)
    expected = _segment_fraction((x0 - x) / occluder_radius)
    profile = gt.bokeh_linear[0, size // 2, :, 0]
    assert np.abs(profile - expected).max() < 1e-3, np.abs(profile - expected).max()
    # the wall is seen behind the occluder (partial occlusion), not cut off at the edge
    assert profile[int(x0) - 2] > 0.2


@pytest.mark.parametrize("sign", [-1.0, 1.0])
def test_background_blur_shows_the_aperture_upright_and_foreground_blur_rotated(sign):
    """A point light's blur spot: the aperture as stored behind focus, rotated by 180° in front of it."""
    size, margin, r = 33, 12, 9.0
    side = size + 2 * margin
    light = np.zeros((side, side, 3), np.float32)
    light[side // 2, side // 2] = 1.0
    scene = _scene([_opaque(light, (0.5 + sign * r / 10.0, 0.0, 0.0))], size, margin)
    pentagon = Aperture(blades=5)  # a vertex points up, a flat edge down (at 0.81 of the radius)
    spot = trace_defocus(scene, strength_px=10.0, focus_disparity=0.5, aperture=pentagon, gammas=(1.0,),
                         cell_px=0.5).bokeh_linear[0, ..., 0]
    c = size // 2
    up, down = spot[c - 8, c], spot[c + 8, c]  # 8 px = 0.89 of the radius
    if sign < 0:
        assert up > 0 and down == 0
    else:
        assert down > 0 and up == 0


def test_all_in_focus_is_the_front_to_back_composite_and_zero_blur_changes_nothing():
    scene = make_scene(5, "train", 40, 40, margin=4)
    base = trace_all_in_focus(scene, gammas=(1.0, 2.2))
    gt = trace_defocus(scene, strength_px=0.0, focus_disparity=0.3, gammas=(1.0, 2.2))
    np.testing.assert_allclose(gt.bokeh_linear, base.all_in_focus_linear, atol=1e-5)
    # composite by hand at one pixel
    y, x = 17, 23
    layers = sorted(scene.layers, key=lambda layer: -layer.disparity_at(x, y))
    total, transmittance = np.zeros(3), 1.0
    for layer in layers:
        rgba = layer.rgba[y + 4, x + 4]
        total += transmittance * rgba[3] * rgba[:3] ** 2.2
        transmittance *= 1 - rgba[3]
    np.testing.assert_allclose(base.all_in_focus_linear[1, y, x], total, rtol=1e-5)
    front = next(layer for layer in layers if layer.rgba[y + 4, x + 4, 3] >= 0.5)
    assert base.disparity[y, x] == pytest.approx(front.disparity_at(x, y), abs=1e-6)


def test_gammas_in_one_pass_match_separate_passes():
    scene = make_scene(2, "train", 32, 32, margin=12)
    both = trace_defocus(scene, strength_px=10, focus_disparity=0.6, gammas=(1.0, 3.0))
    one = trace_defocus(scene, strength_px=10, focus_disparity=0.6, gammas=(3.0,))
    np.testing.assert_allclose(both.bokeh_linear[1], one.bokeh_linear[0], rtol=1e-5, atol=1e-6)
    assert both.image(3.0).max() <= 1.0 and both.bokeh_linear[1].max() > 1.0  # HDR highlights kept in linear


def test_slanted_plane_ray_hits_lie_on_the_ray():
    """A slanted in-focus plane stays sharp where it crosses the focus disparity and blurs elsewhere."""
    size, margin = 48, 12
    side = size + 2 * margin
    texture = np.random.default_rng(3).uniform(0, 1, (side, side, 3)).astype(np.float32)
    plane = (0.1, 0.02, 0.0)  # disparity 0.1 at x = 0, 1.04 at x = 47
    scene = _scene([_opaque(texture, plane)], size, margin)
    focus_x = 20
    gt = trace_defocus(scene, strength_px=10.0, focus_disparity=0.1 + 0.02 * focus_x, gammas=(1.0,))
    sharp = texture[margin:margin + size, margin:margin + size]
    err = np.abs(gt.bokeh_linear[0] - sharp).mean(axis=(0, 2))
    assert err[focus_x] < 1e-6 and err[focus_x + 15] > 0.05 and err[2] > 0.05


def test_bad_settings_get_clear_errors():
    scene = make_scene(0, "test", 16, 16, margin=4)
    with pytest.raises(InvalidParameterError, match=r"margin \(4 px\).*margin=\d+"):
        trace_defocus(scene, strength_px=10, focus_disparity=0.0)
    with pytest.raises(InvalidParameterError, match="strength_px"):
        trace_defocus(scene, strength_px=-1, focus_disparity=0.0)
    with pytest.raises(InvalidParameterError, match="gammas"):
        trace_defocus(scene, strength_px=1, focus_disparity=0.0, gammas=(0.0,))
    with pytest.raises(InvalidParameterError, match="traced gammas"):
        trace_all_in_focus(scene, gammas=(2.0,)).all_in_focus(2.2)

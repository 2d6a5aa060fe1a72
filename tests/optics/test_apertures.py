import math

import numpy as np
import pytest

from lensblur.errors import InvalidParameterError
from lensblur.optics.apertures import footprint, span_table
from lensblur.types import Aperture


@pytest.mark.parametrize("radius", [0.5, 0.8, 1.3, 2.0, 4.7, 10.25, 23.0])
def test_circle_footprint_area_is_pi_r_squared(radius):
    _, _, cover = footprint(radius, Aperture())
    assert cover.sum() == pytest.approx(math.pi * radius**2, rel=1e-4)
    assert cover.min() >= 0 and cover.max() <= 1 + 1e-12


@pytest.mark.parametrize("blades", [3, 5, 6, 9])
def test_polygon_footprint_area(blades):
    radius = 9.3
    _, _, cover = footprint(radius, Aperture(blades=blades, rotation_deg=17))
    exact = blades / 2 * math.sin(2 * math.pi / blades) * radius**2
    assert cover.sum() == pytest.approx(exact, rel=2e-3)
    assert span_table(Aperture(blades=blades)).area == pytest.approx(exact / radius**2, rel=1e-3)


@pytest.mark.parametrize(
    "kwargs, mirror",
    [({}, True), ({"blades": 6}, True), ({"blades": 5, "rotation_deg": 18}, True),
     ({"blades": 8, "rotation_deg": 22.5, "roundness": 0.5}, True), ({"blades": 4, "rotation_deg": 45}, True),
     ({"blades": 5}, False),
     ({"blades": 6, "rotation_deg": 10}, False), ({"blades": 7, "rotation_deg": 10, "roundness": 0.3}, False)],
)
def test_span_table_knows_when_the_shape_is_symmetric_top_to_bottom(kwargs, mirror):
    # the CPU kernel computes the strips at row offsets j and -j once when the table says so
    aperture = Aperture(**kwargs)
    assert span_table(aperture).mirror is mirror
    _, _, cover = footprint(8.6, aperture)
    if mirror:
        np.testing.assert_allclose(cover, cover[::-1], atol=1e-12)
    else:
        assert np.abs(cover - cover[::-1]).max() > 1e-3


def test_roundness_one_is_the_circle():
    _, _, poly = footprint(7.4, Aperture(blades=6, roundness=1.0))
    _, _, circle = footprint(7.4, Aperture())
    np.testing.assert_allclose(poly, circle, atol=1e-9)


def test_zero_radius_is_a_single_pixel():
    dy0, dx0, cover = footprint(0.0, Aperture())
    assert (dy0, dx0, cover.shape) == (0, 0, (1, 1))


def test_footprint_changes_continuously_with_radius():
    # no popping: a 1/1000 px change of radius moves every coverage by a small amount
    for radius in (3.0, 3.5, 7.999, 12.0):
        a = _padded(footprint(radius, Aperture()))
        b = _padded(footprint(radius + 1e-3, Aperture()))
        assert np.abs(a - b).max() < 0.02


def _padded(fp, half=20):
    dy0, dx0, cover = fp
    out = np.zeros((2 * half + 1, 2 * half + 1))
    out[half + dy0: half + dy0 + cover.shape[0], half + dx0: half + dx0 + cover.shape[1]] = cover
    return out


def test_footprint_is_round_within_a_pixel():
    radius = 15.0
    dy0, dx0, cover = footprint(radius, Aperture())
    yy, xx = np.mgrid[dy0: dy0 + cover.shape[0], dx0: dx0 + cover.shape[1]]
    dist = np.hypot(xx, yy)
    assert (cover[dist < radius - 1.0] > 0.999).all()
    assert (cover[dist > radius + 1.0] == 0).all()


@pytest.mark.parametrize("kwargs, message", [
    ({"blades": 2}, "Aperture.blades must be an integer >= 3"),
    ({"roundness": 1.5}, "Aperture.roundness must be in [0, 1]"),
    ({"kernel": np.zeros((4, 4))}, "at least one positive value"),
    ({"kernel": np.ones(4)}, "must be a 2-D grey image"),
])
def test_bad_aperture_errors(kwargs, message):
    with pytest.raises(InvalidParameterError) as err:
        Aperture(**kwargs)
    assert message in str(err.value)

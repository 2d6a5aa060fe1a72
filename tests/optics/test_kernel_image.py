"""Custom aperture images as footprints (lensblur/optics/kernel_image.py): exact coverage by known values,
area conservation, the image's orientation and centring, and run tables that rebuild the footprint."""

from __future__ import annotations

import numpy as np
import pytest

import lensblur as lb
from lensblur.optics.kernel_image import (
    RADIUS_STEP_PX,
    bin_radius,
    footprint_runs,
    kernel_footprint,
    radius_bin,
)


def test_a_full_square_kernel_covers_its_square_exactly():
    half, cover = kernel_footprint(np.ones((5, 5)), 2.0)  # a 4 x 4 px square centred on the source
    edge = np.array([0.5, 1.0, 1.0, 1.0, 0.5])  # pixel ±2 spans [1.5, 2.5]: half of it is inside
    expected = np.zeros((2 * half + 1, 2 * half + 1))
    expected[half - 2: half + 3, half - 2: half + 3] = np.outer(edge, edge)
    np.testing.assert_allclose(cover, expected, atol=1e-12)


@pytest.mark.parametrize("rho", [0.7, 3.3, 6.0])
def test_coverage_integrates_to_the_shapes_area(rho):
    kernel = np.random.default_rng(3).uniform(0, 1, (7, 11))  # not square: padded to 11 x 11, centred
    _, cover = kernel_footprint(kernel, rho)
    mean = (kernel / kernel.max()).sum() / 11 ** 2
    assert cover.sum() == pytest.approx(mean * (2 * rho) ** 2, rel=1e-9)
    assert cover.max() <= 1 + 1e-12 and cover.min() >= 0


def test_the_image_keeps_its_orientation_and_is_centred():
    left = np.zeros((8, 8))
    left[:, :4] = 1  # lit on the left half only
    half, cover = kernel_footprint(left, 4.0)
    assert cover[:, half + 1:].sum() == 0 and cover[:, :half].sum() > 0  # dx > 0 dark, dx < 0 lit
    top = left.T  # lit on the top half only
    _, cover = kernel_footprint(top, 4.0)
    assert cover[half + 1:].sum() == 0 and cover[:half].sum() > 0       # dy > 0 (down) dark
    row = np.ones((1, 9))  # one row, padded to 9 x 9 and centred: a line through the source
    half, cover = kernel_footprint(row, 4.5)
    assert np.count_nonzero(cover.sum(1)) == 1 and cover[half].max() == pytest.approx(1.0)


def test_run_tables_rebuild_each_bins_footprint():
    kernel = np.random.default_rng(4).uniform(0, 1, (9, 6))
    kernel[kernel < 0.3] = 0  # holes, so rows break into several runs
    aperture = lb.Aperture(kernel=kernel)
    bins = np.array([0, 5, 13])
    start, dy, x0, x1, value = footprint_runs(aperture, bins)
    for k, b in enumerate(bins):
        half, cover = kernel_footprint(aperture.kernel, bin_radius(int(b)))
        rebuilt = np.zeros_like(cover, dtype=np.float32)
        for i in range(start[k], start[k + 1]):
            assert x0[i] <= x1[i]
            rebuilt[dy[i] + half, x0[i] + half: x1[i] + half + 1] = value[i]
        np.testing.assert_array_equal(rebuilt, cover.astype(np.float32))


def test_radius_bins_round_to_the_step_and_start_at_half_a_pixel():
    radii = np.array([-7.3, 0.0, 0.2, 0.5, 0.62, 0.63, 12.0])
    rho = np.array([bin_radius(int(i)) for i in radius_bin(radii)])
    np.testing.assert_allclose(rho, [7.25, 0.5, 0.5, 0.5, 0.5, 0.75, 12.0])
    assert np.all(np.abs(rho - np.maximum(np.abs(radii), 0.5)) <= RADIUS_STEP_PX / 2 + 1e-12)

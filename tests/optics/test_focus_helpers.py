"""Focus from a subject mask, a focus band covering a subject, and the autofocus default."""

from __future__ import annotations

import pytest
import torch

import lensblur as lb
from lensblur.errors import InputError
from lensblur.optics import autofocus, focus_from_mask


def _disparity(values):
    return lb.DepthMap(torch.as_tensor(values, dtype=torch.float32)[None, None], kind="disparity", scale="relative")


def _portrait(h=40, w=60):
    """Background at 0.1, a subject at 0.6..0.8 (a slanted face) in the centre, a near twig at 0.95."""
    d = torch.full((h, w), 0.1)
    d[10:34, 20:40] = torch.linspace(0.6, 0.8, 24)[:, None]
    d[2:4, 0:6] = 0.95
    return d


def test_focus_from_mask_uses_the_subjects_median_or_its_whole_range():
    d = _portrait()
    mask = torch.zeros_like(d)
    mask[10:34, 20:40] = 1.0
    mask[0, 0] = 1.0  # one stray mask pixel on the near twig
    depth = _disparity(d)
    point = focus_from_mask(depth, mask)
    assert point.disparity == pytest.approx(float(d[10:34, 20:40].median()), abs=0.01)
    band = focus_from_mask(depth, mask[None, None], whole_subject=True)
    far, near = band.band
    assert 0.59 < far < 0.62 and 0.78 < near < 0.81  # the stray pixel does not stretch the band
    with pytest.raises(InputError, match="selects no pixel"):
        focus_from_mask(depth, torch.zeros_like(d))
    with pytest.raises(InputError, match="mask must have the depth map's size"):
        focus_from_mask(depth, torch.ones(3, 3))


def test_autofocus_picks_the_central_subject_not_the_background_or_a_stray_near_twig():
    focus = autofocus(_disparity(_portrait()))
    assert 0.6 <= focus.disparity <= 0.8


def test_render_without_focus_autofocuses_and_keeps_the_subject_sharp():
    d = _portrait()
    image = torch.rand(1, 3, *d.shape)
    scene = lb.Scene(image, _disparity(d))
    result = lb.render(scene, lens=lb.Lens(strength_px=10))
    assert result.extras["focus"] == "auto"
    subject_blur = result.coc_px[0, 0, 10:34, 20:40].abs().mean()
    background_blur = result.coc_px[0, 0, 36:, :].abs().mean()
    assert subject_blur < 1.5 < background_blur


def test_a_pixel_focus_reads_column_x_of_row_y():
    d = torch.zeros(20, 30)
    d[2, 25] = 0.9  # x = 25, y = 2
    d[25 % 20, 2] = 0.3  # the transposed place, to catch x and y swapped
    depth = _disparity(d)
    far, near = lb.optics.resolve_focus(lb.Focus.at_pixel(x=25, y=2, window_px=1), depth)
    assert far == near == pytest.approx(0.9)


def test_a_pixel_window_with_a_single_valid_value_focuses_on_it():
    d = torch.full((9, 9), float("nan"))
    d[4, 5] = 0.42
    far, near = lb.optics.resolve_focus(lb.Focus.at_pixel(x=4, y=4, window_px=3), _disparity(d))
    assert far == near == pytest.approx(0.42)


def test_autofocus_ignores_the_outer_quarters_of_the_frame():
    d = torch.full((40, 40), 0.5)
    d[30:] = 1.0  # something near across the bottom quarter (a table edge)
    d[:, :10] = 0.9  # and down the left quarter
    d[:, 30:] = 0.8  # and the right one
    assert autofocus(_disparity(d)).disparity == pytest.approx(0.5)

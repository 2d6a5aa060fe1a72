"""Target error maps (BokehMe Eq. 2-5) on analytic edges."""

import numpy as np
import pytest

from lensblur.errors import InvalidParameterError
from lensblur.training.error_map import edge_ratios, error_map_target, surface_labels


def _edge(width=40, height=12, near=0.2, far=0.0):
    d = np.full((height, width), far)
    d[:, : width // 2] = near  # near plane on the left, edge between columns 19 and 20
    return d


@pytest.mark.parametrize("focus, beta", [(0.0, 0.0), (0.2, 0.0), (0.5, 0.6), (1.0, 0.8)])
def test_fig6_beta(focus, beta):
    """The paper's Fig. 6: background 0, foreground 0.2, focus 0 / 0.2 / 0.5 / 1 -> beta 0 / 0 / 0.6 / 0.8."""
    _, b, _ = edge_ratios(_edge(), strength_px=20, focus_disparity=focus)
    assert b[6, 19] == pytest.approx(beta, abs=1e-9)
    assert b[6, 20] == pytest.approx(beta, abs=1e-9)


def test_eq5_values_at_known_distances():
    # focus on the background: r_near = 0.2 * 20 = 4 px, r_far = 0; alpha = l / 4, beta = 0
    e = error_map_target(_edge(), strength_px=20, focus_disparity=0.0)
    smooth = 0.5 + 0.5 * np.tanh(10 * (2 / 3))
    for column, distance in [(20, 1), (21, 2), (22, 3), (19, 1), (17, 3)]:
        assert e[6, column] == pytest.approx((1 - (distance / 4) ** 4) * smooth, abs=1e-6)
    assert e[6, 24] == 0.0 and e[6, 15] == 0.0  # 4 px away: alpha = 1
    assert e[:, :14].max() == 0.0 and e[:, 26:].max() == 0.0


def test_error_fades_when_both_sides_are_equally_blurred():
    """beta -> 1 (focus far in front of both planes at nearly equal blur) switches the indicator off."""
    e_far = error_map_target(_edge(near=0.2), strength_px=20, focus_disparity=0.0)
    e_equal = error_map_target(_edge(near=0.2, far=0.18), strength_px=20, focus_disparity=1.0, jump=0.01)
    assert e_far.max() > 0.99
    assert e_equal.max() < 0.01


def test_reach_grows_with_the_larger_radius():
    narrow = error_map_target(_edge(), strength_px=20, focus_disparity=0.0)   # r = 4 px
    wide = error_map_target(_edge(), strength_px=50, focus_disparity=0.0)     # r = 10 px
    assert (narrow[6] > 0).sum() == 6 and (wide[6] > 0).sum() == 18


def test_in_focus_everywhere_means_no_error():
    assert error_map_target(_edge(near=0.5, far=0.5), strength_px=30, focus_disparity=0.5).max() == 0.0
    assert error_map_target(_edge(), strength_px=0, focus_disparity=0.0).max() == 0.0


def test_a_slanted_plane_is_one_surface_and_a_jump_splits_it():
    yy, xx = np.mgrid[0:32, 0:64]
    slanted = 0.1 + 0.8 * xx / 64          # 0.0125 per px: below the 0.02 jump
    assert surface_labels(slanted).max() == 0
    assert error_map_target(slanted, strength_px=24, focus_disparity=0.5).max() == 0.0
    stepped = slanted.copy()
    stepped[:, 32:] += 0.1
    assert surface_labels(stepped).max() == 1


def test_bad_arguments_are_named():
    with pytest.raises(InvalidParameterError, match="strength_px must be a finite number >= 0; got -1"):
        error_map_target(_edge(), strength_px=-1, focus_disparity=0)
    with pytest.raises(InvalidParameterError, match=r"disparity must be a \(H, W\) array; got shape \(2, 3, 4\)"):
        surface_labels(np.zeros((2, 3, 4)))

import warnings

import numpy as np
import pytest
import torch

from lensblur.depth import DepthResizeWarning, fill_holes, prepare_depth, resize_like
from lensblur.errors import InputError
from lensblur.types import DepthMap


def _map(values, kind="disparity", scale="relative"):
    return DepthMap(torch.tensor(values, dtype=torch.float32)[None, None], kind=kind, scale=scale)


def test_depth_to_disparity_and_normalisation():
    depth = _map([[1.0, 2.0, 4.0]], kind="depth", scale="metric")
    disparity = depth.to_disparity()
    assert disparity.kind == "disparity" and disparity.scale == "metric"
    torch.testing.assert_close(disparity.values.flatten(), torch.tensor([1.0, 0.5, 0.25]))
    normal = depth.normalized()
    # nearest point (1 m) is 1, farthest (4 m) is 0, linear in 1/z
    torch.testing.assert_close(normal.values.flatten(), torch.tensor([1.0, 1 / 3, 0.0]))
    assert normal.scale == "relative"
    assert _map([[3.0, 5.0]]).to_disparity().values.flatten().tolist() == [3.0, 5.0]


def test_constant_depth_is_rejected():
    with pytest.raises(InputError, match=r"depth is constant \(every pixel = 7\)"):
        _map([[7.0, 7.0], [7.0, 7.0]]).normalized()


def test_holes_take_the_farther_neighbour():
    nan = float("nan")
    filled = fill_holes(_map([[0.9, nan, nan, 0.2, nan], [nan, nan, nan, nan, nan], [0.5, 0.5, 0.5, 0.5, 0.5]]))
    row0 = filled.values[0, 0, 0].tolist()
    assert row0 == pytest.approx([0.9, 0.2, 0.2, 0.2, 0.2])
    assert torch.isfinite(filled.values).all()  # the empty row took its nearest valid values
    depth = fill_holes(_map([[1.0, nan, 3.0]], kind="depth"))
    assert depth.values.flatten().tolist() == [1.0, 3.0, 3.0]  # farther = larger depth


def test_all_nan_depth_is_rejected():
    with pytest.raises(InputError, match="depth has no valid values"):
        fill_holes(_map([[float("nan")] * 3]))


def test_resize_keeps_aspect_or_refuses():
    depth = _map(np.linspace(0, 1, 20 * 30).reshape(20, 30).tolist())
    assert resize_like(depth, (40, 60)).shape_hw == (40, 60)
    with pytest.raises(InputError, match=r"depth is 20x30 .* but the image is 40x40"):
        resize_like(depth, (40, 40))
    with pytest.warns(DepthResizeWarning, match="resizing the depth map"):
        prepare_depth(depth, (40, 60))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        prepare_depth(depth, (20, 30))

"""What Python users hold goes in (numpy, PIL, tensors, paths) and comes out (numpy, PIL), with the assumed
encoding stated and bad shapes refused by name."""

import numpy as np
import pytest
import torch
from PIL import Image

import lensblur as lb
from lensblur.errors import InputError, InvalidParameterError
from lensblur.io.colour import srgb_decode
from lensblur.io.convert import as_image


def _rgb(h=24, w=32, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_uint8_uint16_pil_and_tensor_inputs_decode_srgb_floats_are_linear():
    rgb = _rgb()
    expected = srgb_decode(torch.from_numpy(rgb.astype(np.float32) / 255)).permute(2, 0, 1)[None]
    for given in (rgb, Image.fromarray(rgb), torch.from_numpy(rgb), np.moveaxis(rgb, 2, 0)):
        image, meta = as_image(given)
        torch.testing.assert_close(image, expected)
        assert meta.bit_depth == 8
    image16, meta16 = as_image(rgb.astype(np.uint16) * 257)
    torch.testing.assert_close(image16, expected) and None
    assert meta16.bit_depth == 16
    linear = rgb.astype(np.float32) / 255
    assert torch.equal(as_image(linear)[0], torch.from_numpy(linear).permute(2, 0, 1)[None])  # float: linear
    torch.testing.assert_close(as_image(linear, encoding="srgb")[0], expected)
    assert as_image(linear)[1].bit_depth == 32  # float input clipped nothing
    grey, _ = as_image(rgb[..., 0])
    assert grey.shape == (1, 3, 24, 32) and torch.equal(grey[:, 0], grey[:, 2])


def test_bad_images_are_refused_by_name():
    with pytest.raises(InputError, match=r"4 channels \(RGBA\)"):
        as_image(np.zeros((4, 5, 4), np.uint8))
    with pytest.raises(InputError, match="alpha channel"):
        as_image(Image.new("RGBA", (5, 4)))
    with pytest.raises(InputError, match=r"image must have shape .*; got \(4, 5, 2\)"):
        as_image(np.zeros((4, 5, 2), np.uint8))
    with pytest.raises(InputError, match="image must be a path, a numpy array, a PIL image or a torch tensor"):
        as_image([[1, 2, 3]])
    with pytest.raises(InputError, match="negative values"):
        as_image(-np.ones((4, 5, 3), np.float32))
    with pytest.raises(InvalidParameterError, match="encoding='linear' is for float images only"):
        as_image(_rgb(), encoding="linear")


def test_one_line_render_from_arrays_and_results_in_the_callers_kind(tmp_path):
    rgb = _rgb()
    disparity = np.tile(np.linspace(0.0, 1.0, 32, dtype=np.float32), (24, 1))
    disparity[:, :12] = 0.0  # a flat, in-focus band on the left
    focus = lb.Focus.at_pixel(x=2, y=12)
    result = lb.render(rgb, depth=disparity, depth_kind="disparity", lens=lb.Lens(strength_px=6), focus=focus)
    scene = lb.Scene(srgb_decode(torch.from_numpy(rgb.astype(np.float32) / 255)).permute(2, 0, 1)[None].contiguous())
    same = lb.render(scene.with_depth(disparity, kind="disparity"), lens=lb.Lens(strength_px=6), focus=focus)
    assert torch.equal(result.image, same.image)
    out = result.to_numpy()
    assert out.dtype == np.uint8 and out.shape == (24, 32, 3)
    assert result.to_pil().size == (32, 24) and np.array_equal(np.asarray(result.to_pil()), out)
    np.testing.assert_array_equal(out[:, :4], rgb[:, :4])  # the in-focus columns come back as they went in
    assert result.to_numpy(np.float32).dtype == np.float32 and result.to_numpy(np.uint16).max() > 255
    lb.save_image(tmp_path / "u8.png", rgb)
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "u8.png")), rgb)  # uint8 saved as it is
    path = lb.save_image(tmp_path / "photo.png", rgb)
    from_files = lb.render(str(path), depth=disparity, depth_kind="disparity", lens=lb.Lens(strength_px=6),
                           focus=focus)
    assert torch.equal(from_files.image, result.image)


def test_depth_arrays_need_their_kind():
    with pytest.raises(InvalidParameterError, match="needs kind='disparity'"):
        lb.Scene(torch.rand(1, 3, 4, 5)).with_depth(np.ones((4, 5)))
    with pytest.raises(InvalidParameterError, match="depth_kind is needed with a depth array"):
        lb.render(_rgb(4, 5), depth=np.ones((4, 5)), lens=lb.Lens(strength_px=2))
    with pytest.raises(InputError, match=r"depth must have shape \(H, W\) or \(1, 1, H, W\)"):
        lb.DepthMap.from_array(np.ones((2, 4, 5)), kind="depth")
    with pytest.raises(InvalidParameterError, match="to_numpy dtype must be uint8, uint16 or float32"):
        lb.RenderResult(torch.zeros(1, 3, 2, 2), torch.zeros(1, 1, 2, 2)).to_numpy(np.int8)

"""Depth refinement on synthetic edges, and the CLI paths without a depth file (stored, estimated, exported)."""

from __future__ import annotations

import embedded_builders as builders
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from tiny_models import save_tiny_depth_anything

import lensblur as lb
from lensblur.cli import main
from lensblur.depth import refine_depth


def _step_scene(size=48, edge=23):
    """A photo with a sharp vertical colour edge and its disparity, low-res and blurred (edge smeared)."""
    image = torch.full((1, 3, size, size), 0.05)
    image[..., edge:] = torch.tensor([0.8, 0.3, 0.1]).view(1, 3, 1, 1)
    truth = torch.zeros(1, 1, size, size)
    truth[..., edge:] = 1.0
    low = F.avg_pool2d(truth, 4)
    low = F.avg_pool2d(F.pad(low, (1, 1, 1, 1), mode="replicate"), 3, stride=1)  # blur at low resolution
    return image, truth, lb.DepthMap(low, kind="disparity", scale="relative")


def test_refinement_puts_the_depth_edge_on_the_image_edge():
    image, truth, low = _step_scene()
    naive = F.interpolate(low.values, size=truth.shape[-2:], mode="bilinear", align_corners=False)
    refined = refine_depth(low, image, method="guided")
    assert refined.values.shape == truth.shape and refined.source.endswith("+guided")
    err_naive = (naive - truth).abs().mean()
    err_refined = (refined.values - truth).abs().mean()
    assert err_refined < 0.3 * err_naive
    row = refined.values[0, 0, 20]
    assert float(row[20]) < 0.1 and float(row[26]) > 0.9  # a step, not a ramp across the edge


def test_guided_filter_box_sums_are_exact_enough_in_float32_on_a_large_photo():
    """Running sums in float32 over 4000-px rows: the filter agrees with float64 to 1e-4 (a low-contrast
    guide, where the variance is a small difference of large sums)."""
    from lensblur.depth.refine import _box, guided_filter

    torch.manual_seed(0)
    guide = torch.rand(1, 3, 600, 4000) * 0.2 + 0.4
    source = torch.rand(1, 1, 600, 4000)
    single = guided_filter(guide, source, 8, 1e-3).double()
    double = guided_filter(guide.double(), source.double(), 8, 1e-3)
    assert float((single - double).abs().max()) < 1e-4
    small = torch.rand(1, 2, 9, 11, dtype=torch.float64)                 # the box mean against its definition
    windowed = torch.stack([torch.stack([small[0, :, max(0, y - 2):y + 3, max(0, x - 2):x + 3].mean((1, 2))
                                         for x in range(11)], -1) for y in range(9)], -2)
    assert torch.allclose(_box(small, 2)[0], windowed, atol=1e-12)


def test_refinement_leaves_a_constant_map_constant_and_checks_arguments():
    image = torch.rand(1, 3, 20, 20)
    flat = lb.DepthMap(torch.full((1, 1, 5, 5), 0.4), kind="disparity", scale="relative")
    for method in ("guided", "learned"):
        np.testing.assert_allclose(refine_depth(flat, image, method=method).values.numpy(), 0.4, atol=1e-6)
    with pytest.raises(lb.errors.InvalidParameterError, match="eps must be > 0"):
        refine_depth(flat, image, method="guided", eps=0)
    with pytest.raises(lb.errors.InvalidParameterError,
                       match=r"precision must be one of \('auto', 'float32', 'bfloat16'\); got 'fp16'"):
        refine_depth(flat, image, precision="fp16")
    with pytest.raises(lb.errors.InvalidParameterError, match="with method='guided' leave it at 'auto'"):
        refine_depth(flat, image, method="guided", precision="float32")


def test_cli_renders_with_the_depth_stored_in_the_photo_and_records_its_source(tmp_path, capsys):
    photo = tmp_path / "pixel.jpg"
    photo.write_bytes(builders._gdepth_jpeg(builders._ramp(16, 24)))
    out = tmp_path / "out.jpg"
    assert main(["render", str(photo), "-o", str(out), "--blur", "6", "--quiet"]) == 0
    with Image.open(out) as im:
        assert "depth: gdepth" in im.getexif().get(0x010E, "")
    assert main(["render", str(photo), "-o", str(tmp_path / "o2.png"), "--blur", "6"]) == 0
    text = capsys.readouterr().out
    assert "depth: gdepth (disparity, metric)" in text and "focus: auto" in text


def test_cli_without_any_depth_names_how_to_provide_estimator_weights(tmp_path, capsys):
    photo = tmp_path / "plain.jpg"
    photo.write_bytes(builders._jpeg())
    code = main(["render", str(photo), "-o", str(tmp_path / "o.jpg"), "--blur", "5", "--depth-model-dir",
                 str(tmp_path / "missing")])
    assert code == 2
    assert "--depth" in capsys.readouterr().err


def test_cli_depth_exports_estimated_disparity_and_preview(tmp_path, capsys):
    pytest.importorskip("transformers")
    weights = save_tiny_depth_anything(tmp_path / "tiny")
    photo = tmp_path / "plain.jpg"
    photo.write_bytes(builders._jpeg(width=30, height=20))
    out = tmp_path / "depth.png"
    assert main(["depth", str(photo), "-o", str(out), "--depth-model-dir", str(weights)]) == 0
    assert "depth: depth-anything-v2-small" in capsys.readouterr().out
    with Image.open(out) as im:
        assert im.size == (30, 20) and im.mode.startswith("I")
    assert (tmp_path / "depth_preview.png").exists()
    assert main(["depth", str(photo), "-o", str(out), "--depth-model-dir", str(weights), "--quiet"]) == 2  # no clobber


def test_cli_focus_subject_needs_a_matte(tmp_path, capsys):
    photo = tmp_path / "pixel.jpg"
    photo.write_bytes(builders._gdepth_jpeg(builders._ramp(16, 24)))
    assert main(["render", str(photo), "-o", str(tmp_path / "o.jpg"), "--blur", "6", "--focus-subject"]) == 2
    assert "needs a portrait matte" in capsys.readouterr().err


def test_focus_subject_band_covers_the_matte(tmp_path):
    from lensblur.cli.render import _subject_focus

    d = torch.full((1, 1, 20, 30), 0.1)
    d[..., 5:15, 10:20] = 0.7
    matte = torch.zeros(1, 1, 10, 15)
    matte[..., 3:7, 5:10] = 1.0  # the same region at half resolution
    scene = lb.Scene(torch.rand(1, 3, 20, 30), lb.DepthMap(d, kind="disparity", scale="relative"), matte=matte)
    far, near = _subject_focus(scene, lb.Lens(strength_px=5)).band
    assert far == pytest.approx(1.0, abs=0.02) and near == pytest.approx(1.0, abs=0.02)  # normalised: 0.7 -> 1


def test_cli_refines_stored_depth_with_the_chosen_method_and_says_so(tmp_path, capsys, monkeypatch):
    photo = tmp_path / "pixel.jpg"
    photo.write_bytes(builders._gdepth_jpeg(builders._ramp(16, 24)))
    for method in ("learned", "guided"):
        out = tmp_path / f"{method}.png"
        assert main(["render", str(photo), "-o", str(out), "--blur", "6", "--refine-depth", "--refine-method",
                     method]) == 0
        assert f"depth: gdepth+{method}" in capsys.readouterr().out
        with Image.open(out) as im:
            assert f"+{method}" in im.getexif().get(0x010E, "")
    views_out = tmp_path / "views.png"
    assert main(["render", str(photo), "-o", str(views_out), "--blur", "6", "--refine-depth", "--refine-views",
                 "4"]) == 0
    assert "depth: gdepth+learned" in capsys.readouterr().out
    assert main(["render", str(photo), "-o", str(tmp_path / "bad.png"), "--blur", "6", "--refine-depth",
                 "--refine-method", "guided", "--refine-views", "4"]) == 2
    assert "--refine-views averages the learned refiner; with --refine-method guided" in capsys.readouterr().err
    assert main(["render", str(photo), "-o", str(tmp_path / "bad.png"), "--blur", "6", "--refine-depth",
                 "--refine-method", "guided", "--refine-precision", "float32"]) == 2
    assert "--refine-precision sets the learned refiner's arithmetic; with --refine-method guided leave it at " \
           "'auto'" in capsys.readouterr().err
    asked = []
    refine = lb.depth.refine_depth
    monkeypatch.setattr(lb.depth, "refine_depth", lambda *a, **k: asked.append(k["precision"]) or refine(*a, **k))
    for flags, expected in (([], "auto"), (["--refine-precision", "float32"], "float32")):
        assert main(["render", str(photo), "-o", str(tmp_path / f"{expected}.png"), "--blur", "6", "--refine-depth",
                     *flags]) == 0
        assert "depth: gdepth+learned" in capsys.readouterr().out
    assert asked == ["auto", "float32"]                   # the flag reaches the refiner


def test_joint_bilateral_upsampling_puts_a_step_on_the_photos_edge():
    """A 4x low-res disparity step, one full-resolution pixel off the photo's colour edge (column 101), comes
    back as a step on that edge, not as a ramp."""
    from lensblur.depth.refine import joint_bilateral_upsample

    guide = torch.zeros(1, 3, 40, 200)
    guide[..., 101:] = 0.8
    low = torch.zeros(1, 1, 10, 50)
    low[..., 25:] = 1.0  # the step sits at column 100 at full resolution, one pixel off
    up = joint_bilateral_upsample(low, guide)[0, 0, 20]
    assert float(up[:101].max()) < 0.01 and float(up[101:].min()) > 0.99  # the step is on the photo's edge
    ramp = F.interpolate(low, size=(40, 200), mode="bilinear", align_corners=False)[0, 0, 20]
    assert 0.2 < float(ramp[100]) < 0.8  # bilinear upsampling leaves a ramp across the edge


def test_large_photos_can_be_refined_at_a_working_resolution(monkeypatch):
    from lensblur.depth import refine as refine_module

    calls = []
    real = refine_module.RefineNet.refine

    def spy(self, guide, up, **kwargs):
        calls.append(tuple(guide.shape[-2:]))
        return real(self, guide, up, **kwargs)

    monkeypatch.setattr(refine_module.RefineNet, "refine", spy)
    image = torch.rand(1, 3, 128, 192)
    low = lb.DepthMap(torch.rand(1, 1, 32, 48), kind="disparity", scale="relative")
    out = refine_depth(low, image, work_px=64 * 96)
    assert out.values.shape == (1, 1, 128, 192) and calls == [(64, 96)]
    assert refine_depth(low, image).values.shape == (1, 1, 128, 192) and calls[-1] == (128, 192)  # default: full
    with pytest.raises(lb.InvalidParameterError, match="work_px must be None or an integer >= 4096"):
        refine_depth(low, image, work_px=10)


def test_a_pixel_matching_no_sample_colour_gets_the_spatial_average_not_zero():
    from lensblur.depth.refine import joint_bilateral_upsample

    guide = torch.zeros(1, 3, 16, 16)
    guide[..., 7, 7] = 1.0  # a one-pixel highlight: no low-resolution sample has its colour
    out = joint_bilateral_upsample(torch.full((1, 1, 4, 4), 0.6), guide)
    assert float(out[0, 0, 7, 7]) == pytest.approx(0.6, abs=1e-5)

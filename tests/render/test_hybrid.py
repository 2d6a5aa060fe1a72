"""The hybrid pipeline's plumbing (adaptive resizing, iterative upsampling, masks, fusion, tiling) with
random networks; the shipped weights' quality is tested in tests/training/test_shipped_weights.py."""

import numpy as np
import pytest
import torch

import lensblur as lb
from lensblur.errors import InvalidParameterError
from lensblur.io.colour import srgb_decode, srgb_encode
from lensblur.models.bokehme import ARNET_GUIDED, IUNET_RESIDUAL, BokehMeNets
from lensblur.render.hybrid import (
    HybridOptions,
    _scale_sizes,
    fuse,
    hybrid_blur,
    neural_blur,
    neural_bokeh,
    render_display,
    soft_mask,
)


@pytest.fixture(scope="module")
def nets():
    torch.manual_seed(0)
    return BokehMeNets().eval()


def _case(seed=0, size=(48, 64), max_radius=30.0):
    rng = np.random.default_rng(seed)
    image = torch.from_numpy(rng.uniform(0, 1, (1, 3, *size)).astype(np.float32))
    coc = torch.from_numpy(rng.uniform(-max_radius, max_radius, (1, 1, *size)).astype(np.float32))
    return image, coc


def test_scale_steps_match_the_official_demo():
    """inputs/21 of the official demo: 1080x1350, max|S| = 38.8 px -> ARNet at 1/3.88, one x2 step, full."""
    steps = _scale_sizes(1080, 1350, 3.88)
    assert [size for size, _ in steps] == [(278, 348), (556, 695), (1080, 1350)]
    assert [round(r, 4) for _, r in steps] == [round(1 / 3.88, 4), round(2 / 3.88, 4), 1.0]
    assert _scale_sizes(100, 80, 1.0) == [((100, 80), 1.0)]
    assert [s for s, _ in _scale_sizes(64, 64, 4.0)] == [(16, 16), (32, 32), (64, 64)]


def test_small_blur_runs_arnet_only_at_full_resolution(nets):
    image, coc = _case(max_radius=9.0)
    _, _, info = neural_bokeh(nets, image, coc, coc.trunc(), 2.2)
    assert info["scale"] == 1.0 and info["sizes"] == [(48, 64)] and info["masks"] == []


def test_iunet_output_is_unused_where_the_dilated_blur_exceeds_the_range(nets):
    """|S^d| >= R everywhere: every IUNet mask is 0, so iterative equals bilinear upsampling."""
    image = torch.rand(1, 3, 64, 64)
    coc = torch.full((1, 1, 64, 64), 40.0)
    iterative, _, info = neural_bokeh(nets, image, coc, coc, 2.2)
    bilinear, _, _ = neural_bokeh(nets, image, coc, coc, 2.2, HybridOptions(upsampling="bilinear"))
    assert info["sizes"] == [(16, 16), (32, 32), (64, 64)] and max(info["masks"]) == 0.0
    assert torch.allclose(iterative, bilinear, atol=1e-6)


def test_iunet_output_is_used_where_the_blur_is_in_range(nets):
    image = torch.rand(1, 3, 64, 64)
    coc = torch.full((1, 1, 64, 64), 40.0)
    coc[..., 24:40, 24:40] = 0.0  # a sharp patch: the dilated map is small only where no disc reaches
    dilated = coc.clone()
    _, _, info = neural_bokeh(nets, image, coc, dilated, 2.2)
    assert 0 < info["masks"][-1] < 1


def test_tiles_equal_the_whole_image(nets):
    image, coc = _case(seed=3, size=(300, 276), max_radius=25.0)
    whole = render_display(image, coc, nets=nets, options=HybridOptions(tile_px=0))
    tiled = render_display(image, coc, nets=nets, options=HybridOptions(tile_px=128))
    assert torch.allclose(whole.neural, tiled.neural, atol=1e-5)
    assert torch.allclose(whole.error, tiled.error, atol=1e-6)


def test_fusion_is_eq9():
    a, b = torch.rand(1, 3, 4, 4), torch.rand(1, 3, 4, 4)
    assert torch.equal(fuse(a, b, torch.zeros(1, 1, 4, 4)), a)
    assert torch.allclose(fuse(a, b, torch.ones(1, 1, 4, 4)), b)
    assert torch.allclose(fuse(a, b, torch.full((1, 1, 4, 4), 0.25)), 0.75 * a + 0.25 * b)


def test_hybrid_equals_classical_where_the_error_map_is_zero(nets):
    image, coc = _case(seed=4)
    parts = render_display(image, coc, nets=nets)
    expected = (1 - parts.error) * parts.classical + parts.error * parts.neural
    assert torch.allclose(parts.fused, expected.clamp(0, 1), atol=1e-6)
    classical = lb.scatter_encoded(image, coc, gamma=2.2).image.clamp(0, 1)
    assert torch.allclose(parts.classical, classical, atol=1e-6)


def test_soft_mask_keeps_constants_and_softens_edges():
    ones = torch.ones(1, 1, 50, 50, dtype=torch.bool)
    assert torch.allclose(soft_mask(ones), torch.ones(1, 1, 50, 50))
    step = torch.zeros(1, 1, 100, 100, dtype=torch.bool)
    step[..., 50:] = True  # radius round(0.005 * 200) = 1 px
    soft = soft_mask(step)
    assert 0 < soft[0, 0, 10, 49] < 0.5 < soft[0, 0, 10, 50] < 1
    assert soft[0, 0, 10, 47] == 0 and soft[0, 0, 10, 52] == 1


def test_linear_api_matches_the_display_pipeline(nets):
    """gamma=None (linear light) is BokehMe's gamma 2.2 on linear^(1/2.2); a number is BokehMe's gamma on sRGB."""
    image, coc = _case(seed=5)
    linear = image ** 2.2
    out = hybrid_blur(linear, coc, nets=nets).image
    parts = render_display(image, coc, gamma_bokehme=2.2, nets=nets)
    assert torch.allclose(out ** (1 / 2.2), parts.fused, atol=2e-5)
    assert torch.allclose(neural_blur(linear, coc, nets=nets).image ** (1 / 2.2), parts.neural, atol=2e-5)
    srgb = srgb_decode(image)
    parts = render_display(image, coc, gamma_bokehme=4.0, nets=nets)
    assert torch.allclose(srgb_encode(hybrid_blur(srgb, coc, gamma=4.0, nets=nets).image), parts.fused, atol=2e-5)


def test_hybrid_gains_what_the_scatter_gains_from_light_above_white(nets):
    """The networks see [0, 1]; the excess above white is scattered in linear light and added exactly."""
    image, coc = _case(seed=6)
    linear = image ** 2.2
    bright = linear.clone()
    bright[..., 24, 30] = 40.0
    bright[..., 10, 12] = 5.0
    gained = hybrid_blur(bright, coc, nets=nets).image - hybrid_blur(bright.clamp(max=1.0), coc, nets=nets).image
    expected = lb.scatter_blur(bright, coc).image - lb.scatter_blur(bright.clamp(max=1.0), coc).image
    assert float(expected.sum()) > 10
    assert torch.allclose(gained, expected, atol=1e-4)


def test_render_api_selects_hybrid_with_given_weights(nets, tmp_path, tiny_scene):
    path = nets.save(tmp_path / "w.safetensors")
    scene = lb.Scene(tiny_scene.image, lb.DepthMap(tiny_scene.disparity, kind="disparity", scale="relative"))
    out = lb.render(scene, lens=lb.Lens(strength_px=8), focus=lb.Focus.at_disparity(0.9), renderer="hybrid",
                    neural_weights=path)
    assert out.image.shape == tiny_scene.image.shape and out.extras["renderer"] == "hybrid"
    assert out.extras["error_map"].shape == (1, 1, 32, 32)
    with pytest.raises(InvalidParameterError, match="neural_weights is used by the 'hybrid' and 'neural' renderers"):
        lb.render(scene, lens=lb.Lens(strength_px=8), focus=lb.Focus.at_disparity(0.9), neural_weights=path)


def test_options_are_checked():
    with pytest.raises(InvalidParameterError, match="HybridOptions.upsampling must be 'auto', 'iterative', 'bilinear' or 'correction'"):
        HybridOptions(upsampling="bicubic")
    with pytest.raises(InvalidParameterError, match="HybridOptions.tile_px must be 0 .* got 64"):
        HybridOptions(tile_px=64)
    with pytest.raises(InvalidParameterError, match="needs dilated_px"):
        neural_bokeh(BokehMeNets(), torch.rand(1, 3, 8, 8), torch.zeros(1, 1, 8, 8), None, 2.0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_matches_cpu(nets):
    image, coc = _case(seed=6)
    cpu = render_display(image, coc, nets=nets)
    gpu = render_display(image.cuda(), coc.cuda(), nets=nets)
    assert torch.allclose(cpu.fused, gpu.fused.cpu(), atol=1e-3)


def test_untrained_guided_networks_leave_the_classical_render_unchanged():
    """lensblur's networks correct B_c: with a zero head the hybrid is the scatter, at full resolution and when
    ARNet runs downscaled (its zero correction is upsampled onto B_c)."""
    guided = BokehMeNets(ARNET_GUIDED, IUNET_RESIDUAL).eval()
    for max_radius, scaled in ((9.0, False), (35.0, True)):
        image, coc = _case(seed=3, max_radius=max_radius)
        parts = render_display(image, coc, gamma_bokehme=2.2, nets=guided)
        assert (parts.info["scale"] > 1) == scaled and parts.info["upsampling"] == "correction"
        assert torch.allclose(parts.neural, parts.classical, atol=1e-6)
        assert torch.allclose(parts.fused, parts.classical, atol=1e-6)
    with pytest.raises(InvalidParameterError, match="upsampling='correction'\\) needs networks that correct"):
        neural_bokeh(BokehMeNets(), image, coc, coc, 2.2, HybridOptions(upsampling="correction"))
    with pytest.raises(InvalidParameterError, match="pass neural_bokeh\\(..., classical=B_c\\)"):
        neural_bokeh(guided, image, coc, coc.trunc(), 2.2)


def test_guided_networks_tile_exactly():
    torch.manual_seed(5)
    guided = BokehMeNets(ARNET_GUIDED, IUNET_RESIDUAL).eval()
    for p in guided.parameters():
        torch.nn.init.normal_(p, std=0.02)
    image, coc = _case(seed=4, size=(300, 260), max_radius=25.0)
    whole = render_display(image, coc, nets=guided, options=HybridOptions(tile_px=0))
    tiled = render_display(image, coc, nets=guided, options=HybridOptions(tile_px=128))
    assert torch.allclose(whole.fused, tiled.fused, atol=1e-5)


def test_the_hybrid_progress_bar_names_the_hybrid(nets, capsys):
    hybrid_blur(torch.rand(1, 3, 96, 96), torch.full((1, 1, 96, 96), 3.0), nets=nets, progress=True)
    err = capsys.readouterr().err
    assert "hybrid: classical part" in err and "scatter:" not in err

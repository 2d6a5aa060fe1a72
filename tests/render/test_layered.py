"""The layered renderer: known answers from the physics of partial occlusion, fast path = reference."""

import math

import numpy as np
import pytest
import torch

import lensblur as lb
from lensblur.errors import InvalidParameterError
from lensblur.render.classical.layered import (
    LayeredOptions,
    _blur,
    _kernel,
    discontinuity_mask,
    layer_centres,
    layered_blur,
    layered_reference,
    pull_push,
    sharpen_soft_edges,
    soft_edge_width,
)
from lensblur.types import CIRCLE, Aperture

EXACT = LayeredOptions(keep_scatter_off_band=False, max_radius_lowres_px=1000)  # full resolution, layers only
LAYERS_ONLY = LayeredOptions(keep_scatter_off_band=False)


def _disc_scene(fg_radius_px: float, bg_radius_px: float, size: int = 64, disc: float = 14.0):
    """A red disc of radius ``disc`` px centred in a green frame; its blur radius and the background's."""
    yy, xx = np.mgrid[0:size, 0:size]
    inside = (yy - size / 2 + 0.5) ** 2 + (xx - size / 2 + 0.5) ** 2 < disc ** 2
    image = np.zeros((1, 3, size, size), np.float32)
    image[0, 0][inside] = 1.0
    image[0, 1][~inside] = 1.0
    coc = np.where(inside, fg_radius_px, bg_radius_px).astype(np.float32)[None, None]
    return torch.from_numpy(image), torch.from_numpy(coc), inside


def test_layer_centres_are_denser_near_focus_and_end_on_the_data():
    centres = layer_centres(-30.0, 12.0, spacing=0.2)
    assert centres[0] == -30.0 and centres[-1] == 12.0 and 0.0 in centres
    steps = np.diff(centres)
    assert steps[1:-1].min() >= 1.5 - 1e-9                                  # the ends land on the data
    assert steps[np.argmin(np.abs(centres[:-1]))] == pytest.approx(1.5)   # 1.5 px apart at focus
    assert layer_centres(-3.0, 3.0, min_step=1.0).tolist() == [-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0]
    assert steps[0] > 3.0                                                    # ~20 % of the radius far out
    assert layer_centres(4.5, 4.5).tolist() == [4.5]


def test_zero_blur_is_the_identity():
    image = torch.rand(1, 3, 24, 30)
    out = layered_blur(image, torch.zeros(1, 1, 24, 30), options=LAYERS_ONLY).image
    assert torch.allclose(out, image, atol=1e-6)


@pytest.mark.parametrize("aperture", [Aperture(), Aperture(blades=5, rotation_deg=10, roundness=0.2)],
                         ids=["circle", "5-blades"])
@pytest.mark.parametrize("radius", [-7.3, 4.6])
def test_one_fronto_parallel_layer_equals_the_scatter(aperture, radius):
    image = torch.rand(1, 3, 40, 44)
    coc = torch.full((1, 1, 40, 44), radius)
    if radius < 0:   # behind focus the aperture is drawn upright, as the scatter draws it
        expected = lb.scatter_blur(image, coc, aperture=aperture).image
    else:            # in front of focus a lens draws it turned 180°: the scatter of the turned image, turned back
        expected = lb.scatter_blur(image.flip(-1, -2), coc, aperture=aperture).image.flip(-1, -2)
    out = layered_blur(image, coc, aperture=aperture, options=EXACT).image
    assert torch.allclose(out, expected, atol=1e-4)


def test_foreground_disc_over_uniform_background_conserves_energy():
    image, coc, _ = _disc_scene(fg_radius_px=6.0, bg_radius_px=0.0)
    for options in (EXACT, LAYERS_ONLY, LayeredOptions()):
        out = layered_blur(image, coc, options=options).image
        assert float(out.sum()) == pytest.approx(float(image.sum()), rel=2e-3)


def test_revealed_background_at_a_blurred_edge_has_the_background_colour():
    """Just inside a blurred foreground disc, the camera sees through its edge to the hidden background."""
    image, coc, inside = _disc_scene(fg_radius_px=8.0, bg_radius_px=0.0)
    out = layered_blur(image, coc).image[0]
    y, x = 32, 32 - 14 + 2        # 2 px inside the disc's left edge
    assert inside[y, x]
    red, green, blue = (float(v) for v in out[:, y, x])
    assert green > 0.2                         # the background shows through...
    assert red + green == pytest.approx(1.0, abs=0.02)  # ...in its own colour: only red and green mix
    assert blue < 1e-4
    scatter = lb.scatter_blur(image, coc).image[0]
    assert float(scatter[1, y, x]) < 0.05       # the scatter keeps a hard cut-out outline there


def test_no_halo_around_a_sharp_subject_before_a_blurred_background():
    """A nearly sharp subject (r 1.5 px) before a background blurred by 10 px: each keeps its own colour
    beyond the subject's own blur; the scatter lets the background's light spill over the subject."""
    image, coc, inside = _disc_scene(fg_radius_px=1.5, bg_radius_px=-10.0)
    out = layered_blur(image, coc).image[0]
    y, left_edge = 32, 18                      # first pixel inside the disc on row 32
    assert inside[y, left_edge] and not inside[y, left_edge - 1]
    assert float(out[0, y, left_edge - 3]) < 1e-3   # no subject colour beyond its own 1.5 px blur
    assert float(out[1, y, left_edge + 2]) < 1e-3   # no background colour inside the subject's edge
    assert 0.2 < float(out[0, y, left_edge - 1]) < 0.5   # the edge itself: the subject's blur covers it partly
    scatter = lb.scatter_blur(image, coc).image[0]
    assert float(scatter[1, y, left_edge + 2]) > 0.2     # the scatter's halo


def test_fast_path_equals_the_reference():
    torch.manual_seed(0)
    image = torch.rand(1, 3, 36, 40)
    coc = torch.full((1, 1, 36, 40), -6.0)
    coc[..., 10:26, 12:30] = 5.0
    coc[..., 4:12, 4:10] = 0.0
    coc[..., 28:, :] = torch.linspace(-3.0, 2.0, 40)   # a slant across several layers
    reference = layered_reference(image[0].double().numpy(), coc[0, 0].double().numpy())
    exact = layered_blur(image, coc, options=EXACT).image[0].numpy()
    assert np.abs(exact - reference).max() < 1e-5
    fast = layered_blur(image, coc, options=LayeredOptions(keep_scatter_off_band=False,
                                                             max_radius_lowres_px=2)).image[0].numpy()
    assert np.abs(fast - reference).mean() < 0.02


def test_pull_push_keeps_known_pixels_and_fills_holes_from_their_surroundings():
    values = torch.rand(1, 3, 20, 24)
    known = torch.ones(1, 1, 20, 24)
    known[..., 5:15, 6:18] = 0
    values[..., :, :] = torch.where(known > 0, values, torch.full_like(values, 9.0))
    filled = pull_push(values, known)
    assert torch.equal(filled[known.expand_as(values) > 0], values[known.expand_as(values) > 0])
    hole = filled[..., 8:12, 9:15]
    assert float(hole.min()) >= 0.0 and float(hole.max()) <= 1.0   # nothing of the unknown 9s leaks in
    uniform = pull_push(torch.full((1, 1, 9, 7), 0.25), (torch.rand(1, 1, 9, 7) > 0.7).float())
    assert torch.allclose(uniform, torch.full_like(uniform, 0.25), atol=1e-6)


def test_discontinuity_mask_marks_jumps_and_not_slants():
    slant = torch.linspace(-10.0, 10.0, 64).expand(1, 1, 48, 64).contiguous()  # 0.3 px of radius per px
    assert float(discontinuity_mask(slant).max()) == 0.0
    step = torch.full((1, 1, 48, 64), -12.0)
    step[..., 32:] = 0.0
    mask = discontinuity_mask(step, feather_px=0)
    assert float(mask[0, 0, 20, 31]) == 1.0 and float(mask[0, 0, 20, 31 - 13]) == 1.0
    assert float(mask[0, 0, 20, 0]) == 0.0


def test_render_api_takes_the_layered_renderer_with_every_option():
    scene = lb.Scene(torch.rand(1, 3, 40, 48), lb.DepthMap(torch.rand(1, 1, 40, 48), kind="disparity",
                                                          scale="relative"))
    lens = lb.Lens(strength_px=6, aperture=Aperture(blades=6))
    out = lb.render(scene, lens=lens, focus=lb.Focus.between(0.4, 0.6), renderer="layered", progress=True)
    assert out.image.shape == (1, 3, 40, 48) and out.extras["renderer"] == "layered"
    heart = np.zeros((9, 9))
    heart[2:7, 1:8] = 1
    out = lb.render(scene, coc_px=torch.full((1, 1, 40, 48), -3.0), lens=lb.Lens(strength_px=1,
                    aperture=Aperture(kernel=heart)), renderer="layered", gamma=2.2)
    assert torch.isfinite(out.image).all()


@pytest.mark.parametrize("field,value", [("spacing", 0.0), ("softness", 1.5), ("max_radius_lowres_px", 0.5),
                                         ("min_step_px", 0.1), ("jump_px", -1.0), ("feather_px", 2.5), ("soft_edge_px", -1.0),
                                         ("soft_edge_px", 65.0), ("tile_rows", 8)])
def test_bad_options_name_the_field(field, value):
    with pytest.raises(InvalidParameterError, match=f"LayeredOptions.{field}"):
        LayeredOptions(**{field: value})


def test_bad_gamma_is_refused_by_name():
    with pytest.raises(InvalidParameterError, match="gamma"):
        layered_blur(torch.rand(1, 3, 8, 8), torch.zeros(1, 1, 8, 8), gamma=0.0, options=LAYERS_ONLY)


def test_a_light_beside_a_blurred_occluder_keeps_the_ray_traced_energy():
    """The hidden-background fill continues the surface, not the lights on it. A light 30x white two
    pixels from a blurred foreground edge: smearing it into the hidden region would show through the
    edge (+4.5 % energy against the ray tracer); the render stays within 2 %."""
    from lensblur.synth import trace_all_in_focus, trace_defocus
    from lensblur.synth.scenes import Layer, LayeredScene

    height, width, margin = 48, 64, 16
    yy, xx = np.mgrid[0:height + 2 * margin, 0:width + 2 * margin]
    back = np.zeros((height + 2 * margin, width + 2 * margin, 4), np.float32)
    back[..., :3], back[..., 3] = 0.2 ** (1 / 2.2), 1.0
    back[np.hypot(yy - 24 - margin, xx - 31 - margin) <= 1.5, :3] = 30.0 ** (1 / 2.2)
    front = np.zeros_like(back)
    front[..., :3], front[..., 3] = 0.5 ** (1 / 2.2), (xx >= 34 + margin)
    scene = LayeredScene((Layer(back, (0.2, 0.0, 0.0), "back"), Layer(front, (0.8, 0.0, 0.0), "front")),
                         height, width, margin, 0, "test")
    base = trace_all_in_focus(scene, (2.2,))
    truth = trace_defocus(scene, strength_px=10.0, focus_disparity=0.3, gammas=(2.2,)).bokeh_linear[0]
    image = torch.from_numpy(base.all_in_focus_linear[0]).permute(2, 0, 1)[None].contiguous()
    coc = torch.from_numpy(10.0 * (base.disparity - 0.3))[None, None].float()
    out = layered_blur(image, coc).image[0].permute(1, 2, 0).numpy()
    assert abs(out.sum() / truth.sum() - 1) < 0.02


def test_reach_slack_equals_the_euclidean_reach_to_within_the_chamfer_error():
    """Every pixel within a seed's reach (by brute force, Euclidean) has slack >= 0 when the reach is cut by
    the 5x5 chamfer's 3 %, and none beyond the reach does: the band is the physical reach, no wider."""
    from lensblur.render._kernels.band_numba import NONE, reach_slack

    rng = np.random.default_rng(0)
    h, w = 61, 83
    seeds = np.full((2, h, w), NONE, np.float32)
    for plane in range(2):
        ys, xs = rng.integers(0, h, 12), rng.integers(0, w, 12)
        seeds[plane, ys, xs] = rng.uniform(1.0, 30.0, 12)
    slack = reach_slack(seeds.copy())
    yy, xx = np.mgrid[:h, :w]
    for plane in range(2):
        best = np.full((h, w), -np.inf)
        for y, x in zip(*np.nonzero(seeds[plane] > 0), strict=True):
            best = np.maximum(best, seeds[plane, y, x] - np.hypot(yy - y, xx - x))
        assert np.all(slack[plane] <= best + 1e-4)                       # never beyond the Euclidean reach
        shrunk = np.full((h, w), -np.inf)
        for y, x in zip(*np.nonzero(seeds[plane] > 0), strict=True):
            shrunk = np.maximum(shrunk, seeds[plane, y, x] - 1.03 * np.hypot(yy - y, xx - x))
        assert np.all(slack[plane][shrunk >= 0] >= -1e-4)                 # and all of it, to 3 %


def test_the_band_is_the_jumps_reach_feathered_inwards():
    """A sharp disc before a background blurred 12 px: the scatter can be wrong within 12 + 2 px of the
    outline and nowhere else, so the band is 1 within that reach less the feather, 0 beyond it."""
    n = 120
    yy, xx = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
    dist = ((yy - 60.0) ** 2 + (xx - 60.0) ** 2).sqrt()
    coc = torch.where(dist < 25, 0.0, -12.0)[None, None]
    band = discontinuity_mask(coc, feather_px=4)[0, 0]
    outline = (dist - 25).abs()
    assert float(band[outline > 2 + 14 + 1].max()) == 0.0       # jump pixels lie within 2 px of the outline
    assert float(band[outline < 14 - 8 - 1].min()) == 1.0       # full weight up to twice the feather inside
    assert float(band[outline < 14 - 1].min()) > 0.0


def _soft_outline_scene(n=256, radius=12.0):
    """A sharp subject with an outline 10 px soft (hair) before a smooth background blurred by ``radius``,
    photographed as I = αF + (1 − α)B; the estimated depth's edge is smeared over 9 px and 2 px off."""
    torch.manual_seed(0)
    yy, xx = torch.meshgrid(torch.arange(n).float(), torch.arange(n).float(), indexing="ij")
    alpha = ((0.27 * n - ((yy - n / 2) ** 2 + (xx - n / 2) ** 2).sqrt()) / 10 + 0.5).clamp(0, 1)[None, None]
    behind = torch.nn.functional.interpolate(torch.rand(1, 3, 3, 3), size=(n, n), mode="bilinear",
                                             align_corners=True) * 0.6 + 0.2
    subject = torch.tensor([0.9, 0.3, 0.2]).view(1, 3, 1, 1).expand(1, 3, n, n)
    photo = alpha * subject + (1 - alpha) * behind
    # the physics: the in-focus subject covers α of each pixel; the rest sees the blurred background
    truth = alpha * subject + (1 - alpha) * _blur(behind, _kernel(radius, CIRCLE, foreground=False))
    step = torch.where(alpha > 0.5, 0.0, -radius)
    estimated = torch.nn.functional.avg_pool2d(torch.nn.functional.pad(step, (4,) * 4, mode="replicate"), 9,
                                               stride=1).roll(2, dims=-1)
    ring = torch.nn.functional.max_pool2d(((alpha > 0.02) & (alpha < 0.98)).float(), 25, stride=1, padding=12) > 0
    return photo, alpha, estimated, truth, ring.expand(1, 3, n, n)


def test_a_matte_splits_soft_outlines_between_subject_and_background():
    """Without a matte each hair pixel goes whole to one layer (and its colour mixes subject and
    background); with it, α of the pixel stays sharp in the subject's colour and 1 − α joins the blurred
    background in the background's colour. Measured: ring error 0.0091 → 0.0018."""
    photo, alpha, estimated, truth, ring = _soft_outline_scene()
    without = (layered_blur(photo, estimated).image - truth).abs()[ring].mean()
    matted = layered_blur(photo, estimated, matte=alpha)
    with_matte = (matted.image - truth).abs()[ring].mean()
    small = torch.nn.functional.interpolate(alpha, scale_factor=0.25, mode="area")   # a phone-sized matte
    with_small = (layered_blur(photo, estimated, matte=small).image - truth).abs()[ring].mean()
    assert matted.extras["matte"] is True
    assert float(with_matte) < 0.25 * float(without)      # 0.20x; filling the radius behind the outline from
    #                                                       the smeared depth instead (a mutant) gives 0.26x
    assert float(with_small) < 0.25 * float(without)


def test_unmixing_recovers_both_colours_and_explains_every_pixel():
    from lensblur.render.classical.layered import unmix_colours

    photo, alpha, _, _, _ = _soft_outline_scene(n=96)
    subject, behind = unmix_colours(photo, alpha)
    assert torch.allclose(alpha * subject + (1 - alpha) * behind, photo, atol=1e-5)
    outline = (alpha > 0.2) & (alpha < 0.8)
    unmixed = float((subject[:, 0:1][outline] - 0.9).abs().mean())
    mixed = float((photo[:, 0:1][outline] - 0.9).abs().mean())
    assert unmixed < mixed / 4         # much nearer the subject's own colour than the mixture is


def test_zero_blur_with_a_matte_is_still_the_identity():
    photo, alpha, _, _, _ = _soft_outline_scene(n=96)
    out = layered_blur(photo, torch.zeros(1, 1, 96, 96), matte=alpha).image
    assert torch.allclose(out, photo, atol=1e-5)


def test_a_matte_of_another_shape_is_refused_and_a_matte_without_inside_changes_nothing():
    photo, alpha, estimated, _, _ = _soft_outline_scene(n=96)
    with pytest.raises(lb.errors.InputError, match=r"the subject matte is 48x32, the photo 96x96: a different "
                                                   r"aspect ratio"):
        layered_blur(photo, estimated, matte=torch.rand(1, 1, 32, 48))
    empty = layered_blur(photo, estimated, matte=torch.zeros(1, 1, 96, 96)).image
    assert torch.equal(empty, layered_blur(photo, estimated).image)


def test_render_takes_a_matte_only_with_the_layered_renderer(tmp_path):
    import numpy as np
    from PIL import Image

    photo, alpha, estimated, _, _ = _soft_outline_scene(n=64)
    scene = lb.Scene(photo, None)
    with pytest.raises(InvalidParameterError, match="subject_matte is used by the 'layered' renderer"):
        lb.render(scene, coc_px=estimated, renderer="scatter", subject_matte=alpha[0, 0].numpy())
    assert lb.render(scene, coc_px=estimated, subject_matte=alpha[0, 0].numpy()).extras["matte"] is True  # default
    path = tmp_path / "matte.png"
    Image.fromarray((alpha[0, 0].numpy() * 255).round().astype(np.uint8)).save(path)
    out = lb.render(scene, coc_px=estimated, renderer="layered", subject_matte=path)
    assert out.extras["matte"] is True
    with pytest.raises(InvalidParameterError, match=r"subject_matte as floats must lie in \[0, 1\]"):
        lb.render(scene, coc_px=estimated, renderer="layered", subject_matte=alpha[0, 0].numpy() * 2)


def test_cli_subject_matte_needs_the_layered_renderer(tmp_path, capsys):
    import numpy as np
    from PIL import Image

    from lensblur.cli import main

    photo, alpha, _, _, _ = _soft_outline_scene(n=64)
    files = {name: tmp_path / f"{name}.png" for name in ("photo", "depth", "matte")}
    Image.fromarray((photo[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)).save(files["photo"])
    Image.fromarray((alpha[0, 0].numpy() * 200 + 20).round().astype(np.uint8)).save(files["depth"])
    Image.fromarray((alpha[0, 0].numpy() * 255).round().astype(np.uint8)).resize((32, 32)).save(files["matte"])
    base = ["render", str(files["photo"]), "--depth", str(files["depth"]), "--depth-kind", "disparity",
            "--blur", "6", "--focus-at", "32,32", "--subject-matte", str(files["matte"]), "--quiet"]
    assert main(base + ["-o", str(tmp_path / "a.png"), "--renderer", "scatter"]) == 2
    assert "--subject-matte needs --renderer layered; got --renderer scatter" in capsys.readouterr().err
    assert main(base + ["-o", str(tmp_path / "b.png"), "--renderer", "layered"]) == 0
    assert main(base + ["-o", str(tmp_path / "c.png")]) == 0          # layered is the default
    assert (tmp_path / "b.png").exists() and (tmp_path / "c.png").exists()


def _upsampled(coc: torch.Tensor, factor: int) -> torch.Tensor:
    """What a depth map measured ``factor`` times smaller looks like at the photo's size: area down, bilinear up."""
    small = torch.nn.functional.avg_pool2d(coc, factor)
    return torch.nn.functional.interpolate(small, size=coc.shape[-2:], mode="bilinear", align_corners=False)


def test_soft_edge_width_tells_exact_depth_from_upsampled_depth():
    _, coc, _ = _disc_scene(fg_radius_px=0.0, bg_radius_px=-12.0, size=96, disc=30.0)
    assert soft_edge_width(coc) == pytest.approx(2.0, abs=0.5)            # one step: two pixels see it
    assert soft_edge_width(_upsampled(coc, 4)) >= 5.0                     # spread over more than 4 px
    assert soft_edge_width(_upsampled(coc, 8)) > soft_edge_width(_upsampled(coc, 4)) + 3.0
    slant = torch.linspace(-20.0, 20.0, 96).repeat(96, 1)[None, None]      # 0.42 px per px: no jump at all
    assert soft_edge_width(slant) == 0.0


def test_sharpening_restores_an_upsampled_step_and_leaves_exact_maps_alone():
    _, coc, _ = _disc_scene(fg_radius_px=0.0, bg_radius_px=-12.0, size=96, disc=30.0)
    sharpened = sharpen_soft_edges(_upsampled(coc, 4), soft_edge_width(_upsampled(coc, 4)))
    assert set(sharpened.unique().tolist()) <= {0.0, -12.0} | set(_upsampled(coc, 4).unique().tolist())
    wrong = (sharpened - coc).abs() > 0.5
    assert float(wrong.float().mean()) < 0.025     # was 0.14; the rest lie within 2 px of the true outline
    edge = torch.nn.functional.max_pool2d((coc != coc.roll(1, -1)).float() + (coc != coc.roll(1, -2)).float(),
                                          5, stride=1, padding=2) > 0
    assert not bool((wrong & ~edge).any())
    staircase = torch.zeros(1, 1, 40, 60)
    staircase[..., 20:] = -6.0
    staircase[..., 40:] = -14.0
    slant = torch.linspace(-20.0, 20.0, 60).repeat(40, 1)[None, None]
    for exact in (coc, staircase, slant):
        assert torch.equal(sharpen_soft_edges(exact, 8), exact)


def test_upsampled_depth_is_sharpened_by_default_and_the_edge_error_about_halves():
    """A sharp subject before a background blurred 10 px, with the depth measured at 1/8 of the photo's size
    (a phone's depth map, an estimator's output): measured, the edge's width is found and the subject's
    outline cut where the step was; the error near the outline falls to about half (measured 0.51x)."""
    image, coc, inside = _disc_scene(fg_radius_px=0.0, bg_radius_px=-10.0, size=96, disc=30.0)
    truth = layered_blur(image, coc).image
    soft = _upsampled(coc, 8)
    measured = layered_blur(image, soft)
    as_given = layered_blur(image, soft, options=LayeredOptions(soft_edge_px=0))
    near = torch.from_numpy(discontinuity_mask(coc).numpy() > 0).expand_as(image)
    error = float((measured.image - truth).abs()[near].mean())
    assert measured.extras["soft_edge_px"][0] >= 8.0 and as_given.extras["soft_edge_px"] == [0.0]
    assert error < 0.6 * float((as_given.image - truth).abs()[near].mean())
    assert layered_blur(image, coc).extras["soft_edge_px"] == [0.0]      # exact depth: nothing to sharpen


@pytest.mark.parametrize("matte", [False, True], ids=["depth", "with-matte"])
def test_strips_equal_the_whole_frame(matte):
    """Tall frames render in strips with margins (bounded memory); the hidden-layer fill is split at 16-px
    blocks so that every strip sees the same pyramid: strips of any height equal one strip."""
    torch.manual_seed(0)
    h, w = 200, 136
    image = torch.rand(1, 3, h, w)
    coc = torch.full((1, 1, h, w), -30.0)              # the far layers blur at 1/4 resolution
    coc[..., 30:120, 20:90] = 6.0
    coc[..., 130:170, 60:130] = 0.0
    coc[..., 100:190, 5:40] = 14.0                     # 1/2 resolution, before the others
    coc[..., 180:, :] = torch.linspace(-3.0, 2.0, w)   # a slant across several layers
    subject = torch.zeros(1, 1, h, w)
    subject[..., 28:122, 18:92] = 1.0
    extra = {"matte": torch.nn.functional.avg_pool2d(subject, 5, stride=1, padding=2)} if matte else {}
    for keep in (False, True):
        whole = layered_blur(image, coc, options=LayeredOptions(keep_scatter_off_band=keep), **extra).image
        for rows in (16, 48, 112):
            strips = layered_blur(image, coc, options=LayeredOptions(keep_scatter_off_band=keep, tile_rows=rows),
                                  **extra).image
            assert float((strips - whole).abs().max()) < 1e-5


@pytest.mark.parametrize("size", [1, 3, 9, 19, 33, 129])
def test_log_time_window_max_equals_a_max_pool(size):
    from lensblur.render.classical.layered import _dilate, _max_filter

    x = torch.randn(2, 3, 37, 53)
    half = size // 2
    expected = torch.nn.functional.max_pool2d(torch.nn.functional.pad(x, (half,) * 4, value=-float("inf")), size,
                                              stride=1)
    assert torch.equal(_dilate(x, size), expected)                # compiled on the CPU
    assert torch.equal(_max_filter(x, size), expected)            # torch's O(log size) passes (GPUs)


def test_a_small_jump_between_two_large_blurs_is_left_to_the_scatter():
    """A slanted floor meeting a wall 2.5 px of radius apart, both blurred by about 20 px: the layers' own
    radius steps there (20 % of 20 px) are larger than the jump, so the band weighs it little; a jump from
    20 px to 0 is fully in the band."""
    coc = torch.full((1, 1, 64, 64), -20.0)
    coc[..., 32:, :] = -17.5
    weak = discontinuity_mask(coc, spacing=0.2)
    coc[..., 32:, :] = 0.0
    strong = discontinuity_mask(coc, spacing=0.2)
    assert float(strong[..., 32, 32]) == 1.0 and float(discontinuity_mask(coc)[..., 32, 32]) == 1.0
    assert 0.0 < float(weak[..., 32, 32]) <= 0.1


@pytest.mark.parametrize("s", [1, 2, 4])
def test_compiled_layer_construction_equals_the_torch_steps(s):
    """The CPU's one-pass layer construction (weights, share, hidden mask, area-downsampled known part)
    gives the torch steps' numbers for every layer, at full and reduced resolution, odd sizes included."""
    from lensblur.render.classical.layered import _layer_rows, _layer_rows_compiled, layer_centres

    torch.manual_seed(0)
    h, w = 37, 51
    image = torch.rand(1, 3, h, w)
    coc = torch.full((1, 1, h, w), -14.0)
    coc[..., 8:30, 10:40] = 7.0
    coc[..., 30:, :] = torch.linspace(-4.0, 3.0, w)          # a slant across several layers
    coc[..., 2:6, 2:6] = 0.0
    centres = layer_centres(float(coc.min()), float(coc.max()))
    for k in range(len(centres)):
        compiled = _layer_rows_compiled(image, coc, centres, k, 0.3, s, 3, h)
        steps = _layer_rows(image.double(), coc.double(), centres, k, 0.3, None, s, 3, h)   # float64: torch steps
        assert (compiled is None) == (steps is None)
        if compiled is not None:
            assert torch.allclose(compiled[1].double(), steps[1], atol=1e-6)
            assert torch.allclose(compiled[0].double(), steps[0], atol=1e-5)


@pytest.mark.parametrize("shape", [(1, 4, 37, 51), (1, 1, 64, 64), (2, 3, 9, 7)])
def test_compiled_pull_push_equals_the_torch_steps(shape):
    """The CPU's compiled pull and push levels give torch's pooling and exact-2x bilinear upsampling
    numbers (odd sizes padded with an empty row and column); float64 takes the torch steps."""
    torch.manual_seed(1)
    values = torch.rand(shape)
    known = (torch.rand(shape[0], 1, *shape[2:]) > 0.6).float() * torch.rand(shape[0], 1, *shape[2:]) * 1.5
    compiled = pull_push(values, known)
    steps = pull_push(values.double(), known.double())
    assert torch.allclose(compiled.double(), steps, atol=1e-5)


@pytest.mark.parametrize("restricted", [False, True])
def test_compiled_fill_equals_the_torch_steps(restricted):
    """The CPU's fused last push level and mixing give the torch steps' layer, with and without the mask
    that keeps the fill near the occluders' edges; known pixels keep their values exactly."""
    from lensblur.render.classical.layered import _fill_hidden

    torch.manual_seed(2)
    h, w = 45, 38
    premult = torch.rand(1, 4, h, w)
    known = torch.ones(1, 1, h, w)
    known[..., 10:30, 5:25] = 0.0
    known[..., 35:, 30:] = 0.4                         # a fractional edge (a layer at reduced resolution)
    near = (torch.rand(1, 1, 12, 10) > 0.5).float() if restricted else None     # on 4-px cells
    compiled = _fill_hidden(premult.clone(), known, None, near)      # the compiled path fills in place
    steps = _fill_hidden(premult.double(), known.double(), None, None if near is None else near.double())
    assert torch.allclose(compiled.double(), steps, atol=1e-5)
    assert torch.equal(compiled[known.expand_as(premult) == 1], premult[known.expand_as(premult) == 1])


def test_sparse_blur_equals_the_fft_blur_and_where_wanted_only_there():
    """The compiled direct correlation over a layer's covered pixels equals the FFT blur (border
    normalisation included) for round and bladed footprints; given where the output is wanted, it is
    still equal there and skips sources that cannot reach it."""
    from lensblur.render.classical.layered import _blur, _blur_sparse, _kernel

    torch.manual_seed(3)
    x = torch.rand(1, 4, 70, 90) * (torch.rand(1, 1, 70, 90) < 0.2)
    wanted = torch.zeros(1, 1, 70, 90)
    wanted[..., 5:20, 60:80] = 1.0
    for aperture in (CIRCLE, Aperture(blades=5, rotation_deg=20)):
        for radius in (1.5, 4.5, 11.0):
            kernel = _kernel(radius, aperture, foreground=True)
            fft = _blur(x, kernel)
            assert float((_blur_sparse(x, kernel) - fft).abs().max()) < 1e-5
            part = _blur_sparse(x, kernel, wanted)
            inside = wanted.expand_as(x) > 0
            assert float((part - fft)[inside].abs().max()) < 1e-5
    assert float((part - fft)[..., 50:, :30].abs().max()) > 0.1   # far from it: sources skipped


@pytest.mark.parametrize("size", [3, 9, 33, 129])
def test_compiled_window_range_equals_the_max_filters(size):
    from lensblur.render.classical.layered import _max_filter, _range

    torch.manual_seed(4)
    coc = torch.randn(1, 1, 61, 150) * 10
    hi, lo = _range(coc, size)
    assert torch.equal(hi, _max_filter(coc, size)) and torch.equal(lo, -_max_filter(-coc, size))


@pytest.mark.parametrize("s", [2, 4])
def test_compiled_over_of_an_upsampled_run_equals_interpolate_then_over(s):
    """A run of low-resolution layers composited over the frame: the compiled pass upsamples on the fly
    exactly as ``F.interpolate(bilinear)`` then "over" (odd frame sizes cut from the upsampled image)."""
    from lensblur.render._kernels.layers_numba import over_upsampled
    from lensblur.render.classical.layered import _over

    torch.manual_seed(5)
    below = torch.rand(1, 4, 37, 45)
    run = torch.rand(1, 4, -(-37 // s), -(-45 // s))
    up = torch.nn.functional.interpolate(run.double(), scale_factor=s, mode="bilinear", align_corners=False)
    expected = _over(below.double(), up[..., :37, :45])
    fused = below.clone()
    over_upsampled(fused[0].numpy(), run[0].numpy(), s)
    assert torch.allclose(fused.double(), expected, atol=1e-6)


@pytest.mark.parametrize("s", [1, 2, 4])
def test_compiled_block_sums_equal_the_pull_of_the_layer(s):
    """The strips' coarse fill reads each layer's pull sums at the 16-px block level straight from the photo:
    equal to pulling the layer built by the torch steps, lights brighter than white held to the alpha."""
    from lensblur.render.classical.layered import _block_sums_compiled, _layer_rows, _pull_layer, layer_centres

    torch.manual_seed(6)
    h, w = 53, 70
    image = torch.rand(1, 3, h, w) * 3.0                     # lights up to 3x white
    coc = torch.full((1, 1, h, w), -12.0)
    coc[..., 10:40, 15:50] = 5.0
    coc[..., 44:, :] = torch.linspace(-4.0, 3.0, w)
    centres = layer_centres(float(coc.min()), float(coc.max()))
    for k in range(len(centres)):
        compiled = _block_sums_compiled(image, coc, centres, k, 0.3, s, 16, h, 16, {})
        steps = _layer_rows(image.double(), coc.double(), centres, k, 0.3, None, s, 16, h)
        assert (compiled is None) == (steps is None)
        if compiled is None:
            continue
        p, wt = _pull_layer(*steps, int(math.log2(16 // s)))[-1]
        assert torch.allclose(compiled[0].double(), p, atol=1e-4) and torch.allclose(compiled[1].double(), wt)
        assert compiled[2] == bool((steps[1] < 1).any())


@pytest.mark.parametrize("rows", [None, 48], ids=["whole", "strips"])
def test_the_torch_path_a_gpu_runs_equals_the_compiled_cpu_path(rows):
    """On a GPU (and in float64 on the CPU) the layered renderer runs its torch steps; on the CPU in float32
    the compiled kernels. Whole renders, in one strip and in several, agree to float32 round-off."""
    torch.manual_seed(0)
    h, w = 200, 136
    image = torch.rand(1, 3, h, w)
    coc = torch.full((1, 1, h, w), -30.0)              # far layers at 1/4 resolution
    coc[..., 30:120, 20:90] = 6.0
    coc[..., 130:170, 60:130] = 0.0
    coc[..., 100:190, 5:40] = 14.0
    coc[..., 180:, :] = torch.linspace(-3.0, 2.0, w)   # a slant across the full-resolution layers
    options = LayeredOptions(tile_rows=rows)
    compiled = layered_blur(image, coc, options=options).image
    steps = layered_blur(image.double(), coc.double(), options=options).image
    assert steps.dtype == torch.float64
    assert float((compiled.double() - steps).abs().max()) < 1e-5

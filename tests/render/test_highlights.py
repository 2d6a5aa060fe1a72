"""Highlight reconstruction: only clipped channels change, known values, fast = reference, every renderer."""

import numpy as np
import pytest
import torch

import lensblur as lb
from lensblur.errors import InvalidParameterError
from lensblur.io.colour import srgb_decode, srgb_encode
from lensblur.io.images import ImageMeta
from lensblur.render.classical import highlights as hl

RENDERERS = ["scatter", "layered", "hybrid"]


def _photo(seed: int = 0, size=(48, 64), lights=((12, 14, 0), (30, 40, 1), (24, 8, 2))) -> torch.Tensor:
    """An 8-bit-coded linear photo with a few clipped lights (radius 0, 1, 2 px) and their glow."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(10, 140, size=(3, *size)).astype(np.float64)
    image = srgb_decode(torch.from_numpy(codes / 255)).numpy()
    yy, xx = np.mgrid[0:size[0], 0:size[1]]
    for y, x, r in lights:
        d = np.hypot(yy - y, xx - x)
        glow = np.clip(1.5 - (d - r), 0, 1)[None] * np.array([0.9, 0.6, 0.4])[:, None, None]
        image = np.maximum(image, glow)
        image[:, d <= r] = 1.0
    return torch.from_numpy(image.astype(np.float32))[None]


def _scene(image: torch.Tensor, bits: int = 8) -> lb.Scene:
    return lb.Scene(image, meta=ImageMeta(bit_depth=bits))


def test_unclipped_pixels_and_channels_keep_their_values():
    photo = _photo()
    photo[0, 0, 5, 50] = 1.0  # a pixel clipped in red only
    photo[0, 1:, 5, 50] = 0.3
    out, info = hl.reconstruct_highlights(photo)
    clipped = photo >= hl.clip_level(8, 2)
    assert info["blobs"] == 4
    assert torch.equal(out[~clipped], photo[~clipped])
    assert bool((out[clipped] >= photo[clipped]).all()) and float(out.max()) > 1.3


@pytest.mark.parametrize("renderer", RENDERERS)
def test_no_clipped_pixel_renders_exactly_as_without_reconstruction(renderer):
    photo = _photo().clamp(max=0.97)
    coc = torch.linspace(-8, 8, 64).expand(1, 1, 48, 64).contiguous()
    with_it = lb.render(_scene(photo), coc_px=coc, highlights=lb.Highlights(), renderer=renderer)
    without = lb.render(_scene(photo), coc_px=coc, renderer=renderer)
    assert torch.equal(with_it.image, without.image)
    assert with_it.extras["highlights"]["blobs"] == 0


def test_fast_features_equal_the_reference():
    photo = _photo(3, (80, 96), lights=((5, 5, 1), (0, 40, 2), (70, 90, 3), (40, 40, 0), (41, 44, 1), (79, 10, 4)))
    photo[0, :, 50:60, 60:75] = 1.0  # a large flat area
    photo[0, 2, 39:42, 38:47] = 1.0  # lights clipped in blue only around one: their colour bounds (tighten_chroma)
    level = hl.clip_level(8, 2)
    array = photo[0].numpy()
    clipped = hl.clipped_channels(array, level)
    labels, count = hl._label(clipped.any(0))
    from lensblur.render._kernels.highlights_numba import blob_features

    coc = np.linspace(-10, 10, 96, dtype=np.float32)[None].repeat(80, 0) ** 3 / 100
    fast = blob_features(array, clipped, labels, count, hl._BG_RING, hl._GLOW_MIN, coc)
    slow = hl.blob_features_reference(array, clipped, labels, count, coc)
    assert count >= 6 and 0 < slow.coc_span_px.min() < hl._DEPTH_JUMP_PX < slow.coc_span_px.max()
    for name in ("size_px", "ring", "background", "chroma", "coc_span_px"):
        np.testing.assert_allclose(getattr(fast, name), getattr(slow, name), rtol=1e-6, atol=1e-7, err_msg=name)
    out_fast, _ = hl.reconstruct_highlights(photo)
    out_slow, _ = hl.reconstruct_highlights(photo, reference=True)
    torch.testing.assert_close(out_fast, out_slow, rtol=1e-6, atol=1e-6)
    blur = torch.from_numpy(coc)[None, None]
    # with a blur map (the depth-jump rule), both renderers' caps, and the flat area counted as large
    # (and a JPEG's band of near-white channels)
    for occluding, options, lossy in [(False, None, False), (True, None, False), (True, None, True),
                                      (False, lb.Highlights(large_area_px=100), True),
                                      (True, lb.Highlights(large_area_px=100), False)]:
        out_fast, info_fast = hl.reconstruct_highlights(photo, blur, occluding_renderer=occluding, options=options,
                                                        lossy=lossy)
        out_slow, info_slow = hl.reconstruct_highlights(photo, blur, occluding_renderer=occluding, options=options,
                                                        lossy=lossy, reference=True)
        torch.testing.assert_close(out_fast, out_slow, rtol=1e-6, atol=1e-6)
        assert info_fast == info_slow and info_fast["at_depth_jumps"] > 0


def test_the_run_labeller_equals_scipy_labels_boxes_and_tiles():
    """The compiled labeller works on runs of clipped pixels; it must number blobs exactly as
    scipy.ndimage.label does (the features and gains are indexed by label), with the same boxes, each blob's
    runs must cover exactly its pixels, and its tiles (the bright-area grouping) must equal the readable
    ones, for masks from empty to nearly full."""
    from scipy import ndimage

    from lensblur.render._kernels import highlights_numba as kernels

    rng = np.random.default_rng(0)
    for _ in range(200):
        height, width = rng.integers(1, 30, 2)
        mask = rng.random((height, width)) < rng.uniform(0.0, 0.9)
        expected, count = ndimage.label(mask, structure=np.ones((3, 3), bool))
        n, boxes, runs = kernels.label(mask)
        assert n == count
        np.testing.assert_array_equal(kernels.paint_labels(runs, mask.shape), expected)
        if count:
            np.testing.assert_array_equal(boxes, kernels.blob_boxes(expected.astype(np.int32), count))
        for cell in (1, 3, 4):
            np.testing.assert_array_equal(kernels.run_tiles(*runs[:3], width, cell), hl.tiles_any(mask, cell))
        offsets, start, end, run_label = runs
        row, order, first = kernels.blob_runs(offsets, run_label, count)
        painted = np.zeros_like(expected)
        for i in range(count):  # each blob's runs cover exactly its pixels
            for r in order[first[i]:first[i + 1]]:
                assert painted[row[r], start[r]:end[r]].sum() == 0
                painted[row[r], start[r]:end[r]] = i + 1
        np.testing.assert_array_equal(painted, expected)


def test_nothing_clipped_returns_the_photo_itself_and_a_clipped_photo_is_copied_not_changed():
    photo = _photo().clamp(max=0.97)
    out, info = hl.reconstruct_highlights(photo)
    assert out is photo and info["blobs"] == 0
    lit = _photo()
    before = lit.clone()
    out, info = hl.reconstruct_highlights(lit)
    assert info["blobs"] > 0 and out.data_ptr() != lit.data_ptr() and torch.equal(lit, before)


def test_a_saturated_light_takes_its_colour_from_its_partly_clipped_pixels_not_a_white_glow():
    """A blue light 40x white clips blue first: its edge pixels hold (0.12, 0.2, clipped) over a background of
    0.05, so green/blue <= (0.2 - 0.05) / (1 - 0.05) and red/blue <= 0.07 / 0.95, whatever the glow 1-2 px out
    says (here whitish: a pale strand beside the light). Without that bound the centre turned white."""
    image = torch.full((1, 3, 25, 25), 0.05)
    image[0, :, 10:15, 10:15] = torch.tensor([0.4, 0.4, 0.45])[:, None, None]   # the whitish glow ring
    image[0, :, 11:14, 11:14] = torch.tensor([0.12, 0.2, 1.0])[:, None, None]   # blue clipped only
    image[0, :, 12, 12] = 1.0                                                     # all three clipped
    array = image[0].numpy()
    clipped = hl.clipped_channels(array, hl.clip_level(8, 2))
    labels, count = hl._label(clipped.any(0))
    features = hl.blob_features_reference(array, clipped, labels, count)
    assert count == 1 and features.chroma[0, 1] > 0.8                             # the glow alone: white
    chroma = hl.tighten_chroma(array, clipped, labels, features)
    np.testing.assert_allclose(chroma[0], [0.07 / 0.95, 0.15 / 0.95, 1.0], rtol=1e-5)
    for reference in (True, False):
        out, _ = hl.reconstruct_highlights(image, reference=reference)
        centre = out[0, :, 12, 12]
        assert float(centre[2]) > 1.2 and float(centre[1]) == 1.0 and float(centre[0]) == 1.0   # blue, not white


def test_a_channel_that_did_not_clip_predicts_the_clipped_one_from_the_glow_colour():
    """Glow of colour (1, 0.5, 0.2) on black; the centre clipped in red only, green 0.9: red = 0.9 / 0.5."""
    image = torch.zeros(1, 3, 21, 21)
    colour = torch.tensor([1.0, 0.5, 0.2])[:, None]
    for y, x in [(9, 9), (9, 10), (9, 11), (10, 9), (10, 11), (11, 9), (11, 10), (11, 11)]:
        image[0, :, y, x] = (0.6 * colour)[:, 0]
    image[0, :, 10, 10] = torch.tensor([1.0, 0.9, 0.36])
    out, _ = hl.reconstruct_highlights(image)
    assert float(out[0, 0, 10, 10]) == pytest.approx(0.9 / 0.5, rel=1e-5)
    assert torch.equal(out[0, 1:, 10, 10], image[0, 1:, 10, 10])


def test_small_blobs_with_a_hard_edge_are_brighter_than_large_or_soft_ones():
    """The calibrated prior: a point light with no glow is far above white; a large area is bounded."""
    features = hl.BlobFeatures(np.array([1.0, 8.0, 8.0, 5000.0]), np.array([0.0, 0.0, 0.6, 0.0]),
                               np.zeros((4, 3)), np.ones((4, 3)))
    gain = hl.gains(features, lb.Highlights())
    assert gain[1] > gain[0] > 1.0          # hard-edged blobs: brighter lights clip more pixels
    assert gain[1] > 4 * gain[2]             # a bright ring means a light barely above white
    options = lb.Highlights()
    assert gain[3] == pytest.approx(options.large_area_gain * options.large_area_px / 5000.0)
    capped = hl.gains(features, lb.Highlights(max_gain=2.0))
    assert capped.max() <= 1.0


def test_the_default_caps_depend_on_whether_the_renderer_hides_what_is_behind_a_nearer_surface():
    """A hard-edged 16-px blob (the table says about 9.9x white lost): 16x white falling as (N/4)^-0.75
    with occlusion, 8x falling as (N/4)^-0.5 without (over-estimates also spread across nearer surfaces)."""
    features = hl.BlobFeatures(np.array([16.0, 8.0]), np.zeros(2), np.zeros((2, 3)), np.ones((2, 3)))
    layered = hl.gains(features, lb.Highlights(), occluding_renderer=True)
    scatter = hl.gains(features, lb.Highlights(), occluding_renderer=False)
    assert hl.CAPS == {True: (16.0, 0.75), False: (8.0, 0.5)}
    assert layered[0] == pytest.approx(15.0 * 4.0 ** -0.75) and scatter[0] == pytest.approx(7.0 * 4.0 ** -0.5)
    assert layered[1] > scatter[1]
    given = hl.gains(features, lb.Highlights(max_gain=4.0), occluding_renderer=True)
    assert given[0] == pytest.approx(3.0 * 4.0 ** -0.75)  # an explicit max_gain replaces the default cap
    photo = torch.full((1, 3, 48, 64), 0.05)
    photo[..., 20:22, 30:34] = 1.0  # a hard-edged 8-px light: the table's 7.5x is above the scatter's cap
    scene = lb.Scene(photo, meta=ImageMeta(bit_depth=8))
    coc = torch.full((1, 1, 48, 64), 6.0)
    peaks = {r: lb.render(scene, coc_px=coc, renderer=r, highlights=lb.Highlights()).extras["highlights"]["max_gain"]
             for r in ("scatter", "layered")}
    assert peaks["layered"] > peaks["scatter"]  # lb.render tells the reconstruction which renderer follows


def test_a_large_clipped_area_gets_a_bounded_gain():
    photo = _photo()
    photo[0, :, 0:20, :] = 1.0  # an overcast sky, 1280 px
    out, info = hl.reconstruct_highlights(photo)
    options = lb.Highlights()
    budget = options.large_area_gain * options.large_area_px
    assert 0 < float((out - photo)[0, :, 0:20].amax(0).sum()) <= budget + 1e-3  # a bounded total...
    assert float(out[0, :, 0:20].max()) <= 1.0 + budget / (20 * 64) + 1e-6  # ...spread thin over the sky
    assert info["blobs"] >= 3


def _sky_over_ground(radiance: float, ground: float = 0.2, size=(64, 96), hard: bool = False) -> torch.Tensor:
    """A sky of ``radiance`` (units of white) above ground of brightness ``ground``, the horizon a slanted
    line; each pixel covered by the sky a fraction c (16 x 16 samples, the pinhole's box filter) reads
    ground + c (radiance - ground), clipped and stored as 8-bit sRGB. ``hard``: no partly covered pixels."""
    height, width = size
    sub = 16
    yy, xx = np.mgrid[0:height * sub, 0:width * sub] / sub
    sky = (yy < 20.3 + 0.37 * xx).reshape(height, sub, width, sub).mean(axis=(1, 3))
    if hard:
        sky = np.round(sky)
    linear = np.clip(ground + sky * (radiance - ground), 0.0, 1.0)
    codes = np.round(srgb_encode(torch.from_numpy(linear)).numpy() * 255) / 255
    return srgb_decode(torch.from_numpy(codes).float()).expand(1, 3, height, width).contiguous()


@pytest.mark.parametrize("radiance", [1.3, 2.0, 2.8])
def test_with_occlusion_a_large_area_s_brightness_is_read_from_its_edge(radiance):
    """Along the horizon a fraction (1 - b) / (L - b) of the edge pixels stays unclipped; from it the
    layered renderer's reconstruction recovers the sky's radiance L (here within 15 %). Renderers without
    occlusion keep the bounded total (the sky's extra light would land on the subject in front of it)."""
    photo = _sky_over_ground(radiance)
    sky = photo[0, 0] >= hl.clip_level(8, 2)
    out, info = hl.reconstruct_highlights(photo, occluding_renderer=True)
    assert info["blobs"] == 1 and int(sky.sum()) > 1000
    assert float(out[0, :, sky].mean()) == pytest.approx(radiance, rel=0.15)
    assert torch.equal(out[0, :, ~sky], photo[0, :, ~sky])
    bounded, _ = hl.reconstruct_highlights(photo, occluding_renderer=False)
    options = lb.Highlights()
    assert float((bounded - photo)[0, 0].sum()) <= options.large_area_gain * options.large_area_px * 1.001


def test_a_large_area_with_no_partly_covered_edge_pixel_is_bounded_and_white():
    """A hard edge (no partly covered pixel) reads as an arbitrarily bright area: the estimate stops at
    LARGE_AREA_MAX. Beside green ground the glow is green, but the sky is raised alike in all channels."""
    photo = _sky_over_ground(2.0, hard=True)
    photo[0, 1, ~(photo[0, 0] >= hl.clip_level(8, 2))] = 0.5  # green ground
    photo[0, 0, ~(photo[0, 0] >= hl.clip_level(8, 2))] = 0.02
    photo[0, 2, ~(photo[0, 2] >= hl.clip_level(8, 2))] = 0.02
    out, _ = hl.reconstruct_highlights(photo, occluding_renderer=True)
    sky = photo[0, 0] >= hl.clip_level(8, 2)
    np.testing.assert_allclose(out[0, :, sky].numpy(), hl.LARGE_AREA_MAX, rtol=1e-6)


def test_a_blown_wall_fading_past_white_gains_almost_nothing():
    """A smooth wall whose brightness rises past white: the pixels beside the clipped part are nearly white
    themselves (the ring reads a light barely above white), so the reconstruction adds little."""
    ramp = torch.linspace(0.6, 1.2, 96).clamp(max=1.0)
    photo = srgb_decode((torch.round(srgb_encode(ramp) * 255) / 255).expand(1, 3, 64, 96).contiguous())
    out, info = hl.reconstruct_highlights(photo, occluding_renderer=True)
    assert info["clipped_px"] > 256 and float(out.max()) < 1.1


@pytest.mark.parametrize("reference", [False, True])
def test_in_a_jpeg_a_near_white_channel_inside_a_light_is_raised_not_read_as_its_colour(reference):
    """A white light, clipped in the scene, whose green the JPEG decoded at code 250 in a few pixels. In a
    lossless file green 250 is evidence (the light is barely brighter than white there) and those pixels
    stay about as stored; in a JPEG it is compression noise, and the light is raised alike in all channels."""
    photo = torch.full((1, 3, 21, 21), 0.02)
    photo[..., 8:13, 8:13] = 1.0
    noisy = float(srgb_decode(torch.tensor(250 / 255)))
    photo[0, 1, 9:12, 10] = noisy
    lossless, _ = hl.reconstruct_highlights(photo, reference=reference)
    jpeg, info = hl.reconstruct_highlights(photo, lossy=True, reference=reference)
    assert info["lossy"] and float(lossless[0, :, 10, 10].max()) < 1.01
    assert float(jpeg[0, :, 9:12, 10].min()) > 1.5
    assert torch.allclose(jpeg[0, 0, 9:12, 10], jpeg[0, 1, 9:12, 10])  # white stays white


def test_a_jpeg_halves_the_caps_excess_over_white():
    features = hl.BlobFeatures(np.array([1.0, 64.0]), np.zeros(2), np.zeros((2, 3)), np.ones((2, 3)))
    options = lb.Highlights()
    for occluding in (False, True):
        lossless = hl.gain_limits(features, options, occluding_renderer=occluding)
        lossy = hl.gain_limits(features, options, occluding_renderer=occluding, lossy=True)
        np.testing.assert_allclose(lossy, 0.5 * lossless)
        assert lossless[0] == hl.CAPS[occluding][0] - 1.0
    explicit = lb.Highlights(max_gain=6.0)  # an explicit cap is the user's, lossy or not
    np.testing.assert_allclose(hl.gain_limits(features, explicit, lossy=True), hl.gain_limits(features, explicit))


def test_a_jpeg_file_is_taken_as_lossy_and_a_png_is_not(tmp_path):
    from PIL import Image

    pixels = np.full((24, 32, 3), 20, np.uint8)
    pixels[10:14, 14:18] = 255
    Image.fromarray(pixels).save(tmp_path / "lights.jpg", quality=95)
    Image.fromarray(pixels).save(tmp_path / "lights.png")
    jpeg, png = lb.load_scene(tmp_path / "lights.jpg"), lb.load_scene(tmp_path / "lights.png")
    assert jpeg.meta.lossy and not png.meta.lossy
    assert lb.load_scene(Image.open(tmp_path / "lights.jpg")).meta.lossy  # a PIL image opened from a JPEG
    coc = torch.full((1, 1, 24, 32), 6.0)
    for scene, lossy in ((jpeg, True), (png, False)):
        result = lb.render(scene, coc_px=coc, highlights=lb.Highlights(), renderer="scatter")
        assert result.extras["highlights"]["lossy"] is lossy
    forced = lb.render(png, coc_px=coc, highlights=lb.Highlights(lossy=True), renderer="scatter")
    assert forced.extras["highlights"]["lossy"] is True
    with pytest.raises(InvalidParameterError, match="Highlights.lossy"):
        lb.Highlights(lossy="yes")


def test_at_a_depth_jump_only_the_far_surface_pixels_of_a_light_are_raised():
    """Mixed pixels labelled with the nearer surface keep their values; the light lies behind the edge."""
    photo = _photo()
    coc = torch.zeros(1, 1, 48, 64)
    coc[..., 31:, :] = 8.0  # the light at (30, 40), radius 1 (rows 29-31), is on the edge of a blurred foreground
    out, info = hl.reconstruct_highlights(photo, coc)
    assert info["at_depth_jumps"] == 1
    assert torch.equal(out[..., 31:34, 37:44], photo[..., 31:34, 37:44])  # near-labelled: as the photo has it
    assert float(out[0, 0, 29, 40]) > 1.5 and float(out[0, 0, 30, 39:42].min()) > 1.5  # far-labelled: raised
    free, _ = hl.reconstruct_highlights(photo)
    assert float(free[..., 31, 40].max()) > 1.0  # without a blur map nothing marks the jump


@pytest.mark.parametrize("reference", [False, True])
def test_a_light_on_a_near_strand_is_raised_on_the_strand_not_on_its_far_labelled_rim(reference):
    """A lamp on a thin, sharp strand (coc 0) before a far, blurred background (coc -8): 24 of its 25
    clipped pixels are labelled with the strand and one, its rim, with the background. The light lies on
    the strand: its strand pixels are raised (and stay sharp when rendered); the rim pixel keeps its
    value, or the renderer would spread it into an 8-px disc the lens never showed."""
    photo = torch.full((1, 3, 40, 40), 0.05)
    photo[..., 18:23, 18:23] = 1.0            # the lamp, 5x5 px
    coc = torch.full((1, 1, 40, 40), -8.0)    # the background
    coc[..., :, 18:23] = 0.0                  # the strand, 5 px wide, in focus
    coc[..., 22, 22] = -8.0                   # one rim pixel labelled with the background
    out, info = hl.reconstruct_highlights(photo, coc, reference=reference)
    assert info["at_depth_jumps"] == 1
    assert float(out[0, :, 18:23, 18:22].amin()) > 1.5 and float(out[0, :, 18:22, 22].amin()) > 1.5
    assert torch.equal(out[..., 22, 22], photo[..., 22, 22])
    behind = coc.clone()  # with 11 of its 25 pixels on the far surface, the light is seen past the strand's edge
    behind[..., 18:20, 18:23] = -8.0
    out, _ = hl.reconstruct_highlights(photo, behind, reference=reference)
    assert float(out[0, :, 18:20, 18:23].amin()) > 1.5 and torch.equal(out[..., 20:22, 18:22], photo[..., 20:22, 18:22])


def test_sky_seen_through_leaves_is_one_large_area_not_many_point_lights():
    photo = _photo()
    photo[0, :, 0:24, :] = 1.0
    photo[0, :, 0:24:3, :] = 0.05  # dark twigs every third row cut the sky into 8 strips of 64 px
    out, info = hl.reconstruct_highlights(photo)
    options = lb.Highlights()
    assert info["blobs"] >= 8
    assert float((out - photo)[0, :, 0:24].amax(0).sum()) <= options.large_area_gain * options.large_area_px + 1e-3
    alone, _ = hl.reconstruct_highlights(photo[..., 0:2, :].contiguous())  # one strip alone is a small blob...
    assert float(alone.max()) > float(out[0, :, 0:24].max())  # ...and would get far more


@pytest.mark.parametrize("renderer", RENDERERS)
def test_out_of_focus_light_spreads_its_recovered_energy_in_focus_light_stays_a_clipped_point(renderer):
    photo = _photo()
    coc = torch.zeros(1, 1, 48, 64)
    coc[..., 32:] = 6.0  # the light at x = 40 is blurred, the one at x = 14 is sharp
    scene = _scene(photo)
    plain = lb.render(scene, coc_px=coc, renderer=renderer).image
    bright = lb.render(scene, coc_px=coc, renderer=renderer, highlights=lb.Highlights())
    recovered, _ = hl.reconstruct_highlights(photo)
    gained = float((bright.image - plain)[..., 22:40, 33:48].sum())
    lost = float((recovered - photo)[..., 28:33, 38:43].sum())
    assert lost > 2 and gained == pytest.approx(lost, rel=0.15)
    sharp = bright.image[..., 8:17, 10:19].clamp(0, 1)
    light = (photo[..., 8:17, 10:19] >= 1.0).all(1, keepdim=True).expand_as(sharp)
    assert int(light.sum()) == 3 and float(sharp[light].max()) == 1.0  # a sharp clipped point...
    assert torch.allclose(sharp[~light], plain[..., 8:17, 10:19].clamp(0, 1)[~light], atol=1e-5)  # ...nothing more


def test_float_and_fileless_input_is_left_alone_unless_the_bit_depth_is_given():
    photo = _photo()
    coc = torch.full((1, 1, 48, 64), 4.0)
    plain = lb.render(lb.Scene(photo), coc_px=coc).image
    skipped = lb.render(lb.Scene(photo), coc_px=coc, highlights=lb.Highlights())
    assert torch.equal(skipped.image, plain) and "bit depth is unknown" in skipped.extras["highlights"]["skipped"]
    hdr = lb.render(_scene(photo, bits=32), coc_px=coc, highlights=lb.Highlights())
    assert torch.equal(hdr.image, plain) and "HDR" in hdr.extras["highlights"]["skipped"]
    given = lb.render(lb.Scene(photo), coc_px=coc, highlights=lb.Highlights(bit_depth=8)).image
    assert float(given.sum()) > float(plain.sum()) + 5


def test_sixteen_bit_files_clip_at_their_own_full_scale():
    photo = torch.full((1, 3, 9, 9), 0.2)
    photo[..., 2, 2] = float(srgb_decode(torch.tensor(65000 / 65535)))  # bright, but 535 codes below full
    photo[..., 6, 6] = 1.0
    out, info = hl.reconstruct_highlights(photo, bit_depth=16)
    assert info["blobs"] == 1 and torch.equal(out[..., 2, 2], photo[..., 2, 2])
    assert hl.clip_level(16, 2) > hl.clip_level(8, 2)


def test_bad_settings_name_the_field():
    with pytest.raises(InvalidParameterError, match="Highlights.tolerance_codes must be an integer"):
        lb.Highlights(tolerance_codes=-1)
    with pytest.raises(InvalidParameterError, match="Highlights.max_gain must be >= 1"):
        lb.Highlights(max_gain=0.5)
    with pytest.raises(InvalidParameterError, match="Highlights.bit_depth must be 8, 16 or None"):
        lb.Highlights(bit_depth=12)
    with pytest.raises(InvalidParameterError, match="boost=lensblur.HighlightBoost"):
        lb.render(_scene(_photo()), coc_px=torch.zeros(1, 1, 48, 64), highlights=lb.HighlightBoost())
    with pytest.raises(InvalidParameterError, match="HighlightBoost.gain must be >= 0"):
        lb.HighlightBoost(gain=-1)

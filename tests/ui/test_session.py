"""The web app's steps without the web (lensblur/ui/session.py): where depth comes from, that the preview is
the full render at a smaller size, focus by click, export that never replaces a file, and the page's messages."""

from __future__ import annotations

import numpy as np
import pytest
import torch.nn.functional as F
from embedded_builders import _gdepth_jpeg, _ramp
from PIL import Image

import lensblur as lb
from lensblur.errors import hint
from lensblur.io.samples import motorcycle
from lensblur.ui import session
from lensblur.ui.session import ESTIMATOR_INSTALL, Settings

SUBJECT, BACKGROUND = (390, 300), (620, 60)  # the Motorcycle's engine (near) and the shelves (far)


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    folder = tmp_path_factory.mktemp("session")
    scene = motorcycle()
    photo, depth = folder / "motorcycle.png", folder / "motorcycle_disparity.npy"
    lb.save_image(photo, scene.image)
    np.save(depth, scene.depth.values[0, 0].numpy())
    return photo, depth


@pytest.fixture
def offline(tmp_path, monkeypatch):
    """A machine without the estimator's weights, and no way to fetch them."""
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(session, "_ESTIMATOR", {})


def test_a_depth_file_opens_with_a_preview_of_about_one_megapixel(sample, tmp_path):
    photo, depth = sample
    big = tmp_path / "big.png"  # 2.7 MP: the preview must shrink it
    Image.open(photo).resize((2001, 1350), Image.BICUBIC).save(big)
    big_depth = tmp_path / "big_depth.npy"
    np.save(big_depth, np.asarray(Image.fromarray(np.load(depth)).resize((2001, 1350), Image.BILINEAR)))
    ws = session.open_photo(big, big_depth, depth_kind="disparity")
    assert ws.has_depth and ws.size_hw == (1350, 2001)
    assert "big_depth.npy (disparity, relative)" in ws.depth_note
    h, w = ws.preview_image.shape[-2:]
    assert 0.95e6 < h * w <= 1.0e6 and abs(w / h - 2001 / 1350) < 0.01
    assert ws.scale == pytest.approx(w / 2001)


def test_depth_stored_in_the_photo_is_used_and_the_photo_stands_upright(tmp_path, offline):
    path = tmp_path / "phone.jpg"
    path.write_bytes(_gdepth_jpeg(_ramp(8, 12), orientation=6))  # stored 24x16, shown turned: 16 wide, 24 high
    ws = session.open_photo(path)
    assert ws.size_hw == (24, 16)
    assert ws.has_depth and "stored in the photo" in ws.depth_note
    assert tuple(ws.disparity["relative"].shape[-2:]) == (24, 16)


def test_without_depth_the_page_says_how_to_install_the_estimator(sample, offline):
    ws = session.open_photo(sample[0])
    assert not ws.has_depth
    assert ESTIMATOR_INSTALL in ws.depth_note and ESTIMATOR_INSTALL.startswith("hf download ")
    np.testing.assert_array_equal(session.preview(ws, Settings()), ws.original_preview)  # the photo, unblurred
    with pytest.raises(lb.InputError, match="no depth yet"):
        session.render_full(ws, Settings())


def test_clicking_a_region_keeps_it_sharp_and_blurs_the_rest(sample):
    ws = session.open_photo(*sample, depth_kind="disparity")
    near = session._coc(ws, Settings(focus_xy=SUBJECT, blur_px=15), preview=False)[0, 0]
    far = session._coc(ws, Settings(focus_xy=BACKGROUND, blur_px=15), preview=False)[0, 0]
    (sx, sy), (bx, by) = SUBJECT, BACKGROUND
    assert abs(float(near[sy, sx])) < 0.5 and abs(float(near[by, bx])) > 5
    assert abs(float(far[by, bx])) < 0.5 and abs(float(far[sy, sx])) > 5
    # a focus range keeps more of the scene sharp (a whole face, not only the tip of the nose)
    wide = session._coc(ws, Settings(focus_xy=SUBJECT, blur_px=15, focus_range=0.3), preview=False)
    assert int((wide.abs() < 0.5).sum()) > int((near.abs() < 0.5).sum())


def test_zero_blur_preview_is_the_photo(sample):
    ws = session.open_photo(*sample, depth_kind="disparity")
    np.testing.assert_array_equal(session.preview(ws, Settings(focus_xy=SUBJECT, blur_px=0)), ws.original_preview)


def test_the_preview_is_the_full_render_at_preview_size(sample, tmp_path):
    photo, depth = sample
    big = tmp_path / "big.png"
    Image.open(photo).resize((1482, 1000), Image.BICUBIC).save(big)  # twice the sample: the preview halves it
    big_depth = tmp_path / "big_depth.npy"
    np.save(big_depth, np.asarray(Image.fromarray(np.load(depth)).resize((1482, 1000), Image.NEAREST)))
    ws = session.open_photo(big, big_depth, depth_kind="disparity")
    settings = Settings(focus_xy=(780, 600), blur_px=24, blades=6)
    small = session.preview(ws, settings).astype(np.float64) / 255
    full = session.render_full(ws, settings, progress=False).image
    shrunk = session.to_uint8(F.interpolate(full, size=small.shape[:2], mode="area")).astype(np.float64) / 255
    assert np.abs(small - shrunk).mean() < 0.02  # same blur, same focus: differences are resampling only
    unblurred = ws.original_preview.astype(np.float64) / 255
    assert np.abs(unblurred - shrunk).mean() > 2 * np.abs(small - shrunk).mean()


def test_photographic_blur_needs_metric_depth(sample):
    ws = session.open_photo(*sample, depth_kind="disparity")
    with pytest.raises(lb.InvalidParameterError, match="need metric depth"):
        session.preview(ws, Settings(focus_xy=SUBJECT, use_lens=True))


def test_photographic_blur_grows_with_a_faster_lens(sample, tmp_path):
    photo, depth = sample
    metres = tmp_path / "metres.npy"
    d = np.load(depth)
    d = (d - np.nanmin(d)) / (np.nanmax(d) - np.nanmin(d))
    np.save(metres, (1.0 / (0.2 + 0.8 * d)).astype(np.float32))  # 1.25 m (near) to 5 m (far)
    ws = session.open_photo(photo, metres, depth_kind="depth", depth_scale="metric")
    radius = {n: float(session._coc(ws, Settings(focus_xy=SUBJECT, use_lens=True, f_number=n), preview=False)
                       .abs().max()) for n in (1.4, 5.6)}
    assert radius[1.4] == pytest.approx(4 * radius[5.6], rel=1e-3)  # the blur disc scales as 1/N


def test_export_never_replaces_a_file_and_keeps_the_bits(sample, tmp_path):
    ws = session.open_photo(*sample, depth_kind="disparity")
    result = session.render_full(ws, Settings(focus_xy=SUBJECT, blur_px=8), progress=False)
    first = session.export(ws, result, tmp_path, kind="png16")
    second = session.export(ws, result, tmp_path, kind="png16")
    assert (first.name, second.name) == ("motorcycle_lensblur.png", "motorcycle_lensblur_2.png")
    with Image.open(first) as png:
        assert png.size == (741, 500)
    import cv2

    assert cv2.imread(str(first), cv2.IMREAD_UNCHANGED).dtype == np.uint16
    jpeg = session.export(ws, result, tmp_path, kind="jpeg")
    with Image.open(jpeg) as decoded:
        assert jpeg.suffix == ".jpg" and decoded.size == (741, 500)
    with pytest.raises(lb.InvalidParameterError, match="export kind must be 'png16' or 'jpeg'; got 'gif'"):
        session.export(ws, result, tmp_path, kind="gif")


def test_jpeg_export_keeps_the_photos_exif_and_icc(tmp_path):
    from PIL import ImageCms

    photo = tmp_path / "camera.jpg"
    exif = Image.Exif()
    exif[0x010F] = "LensblurCam"  # Make
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (40, 60, 3), np.uint8)).save(
        photo, exif=exif, icc_profile=icc)
    depth = tmp_path / "depth.npy"
    np.save(depth, np.tile(np.linspace(0, 1, 60, dtype=np.float32), (40, 1)))
    ws = session.open_photo(photo, depth, depth_kind="disparity")
    out = session.export(ws, session.render_full(ws, Settings(blur_px=4), progress=False), tmp_path, kind="jpeg")
    with Image.open(out) as saved:
        assert saved.getexif()[0x010F] == "LensblurCam"
        assert saved.info.get("icc_profile") == icc


def test_depth_view_marks_the_sharp_region_green(sample):
    from lensblur.io.previews import disparity_preview

    ws = session.open_photo(*sample, depth_kind="disparity")
    settings = Settings(focus_xy=SUBJECT, blur_px=15)
    view = session.depth_view(ws, settings).astype(int)
    plain = session.to_uint8(disparity_preview(ws.preview_disparity["relative"])).astype(int)
    sharp = np.abs(session._coc(ws, settings, preview=True)[0, 0].numpy()) < 0.5
    assert 0.01 < sharp.mean() < 0.9

    def green(rgb):
        return rgb[..., 1] - (rgb[..., 0] + rgb[..., 2]) / 2

    assert (green(view) > green(plain) + 20)[sharp].mean() > 0.95  # the focus plane tinted green
    np.testing.assert_array_equal(view[~sharp], plain[~sharp])     # the rest is the plain depth map


def test_messages_show_file_names_and_command_line_fixes():
    err = lb.InputError(f"depth '/tmp/gradio/abc123/d.npy' is 3x3; {hint('pass depth_kind=', 'use --depth-kind')}")
    text = session.message(err, {"/tmp/gradio/abc123/d.npy": "d.npy"})
    assert text == "depth 'd.npy' is 3x3; use --depth-kind"
    assert session.message(MemoryError()).startswith("Not enough memory for this render")


def test_a_click_uses_a_window_of_nine_preview_pixels(sample):
    ws = session.open_photo(*sample, depth_kind="disparity")
    band = session.focus_band(ws, Settings(focus_xy=SUBJECT))
    d = ws.disparity["relative"][0, 0]
    x, y = SUBJECT
    window = d[y - 4: y + 5, x - 4: x + 5]  # nine preview pixels = nine photo pixels at scale 1
    assert float(window.min()) - 1e-4 <= band[0] <= band[1] <= float(window.max()) + 1e-4
    assert abs(band[0] - float(d[y, x])) < 0.01


def test_a_slow_preview_is_shown_only_for_the_newest_request(sample):
    ws = session.open_photo(*sample, depth_kind="disparity")
    opened = Settings(blur_px=15.0)
    assert ws.is_current(opened, ws.generation)  # right after opening: the slow preview of the opening settings
    begun = ws.generation
    lens = Settings(blur_px=15.0, use_lens=True)
    newest = ws.request(lens)  # the user picks lens blur while the opening's slow preview renders
    assert newest == begun + 1
    assert not ws.is_current(opened, begun)      # overtaken while it rendered
    assert not ws.is_current(opened, newest)     # started only after the newer request: still the old settings
    assert ws.is_current(lens, newest)           # the newer request's own slow step is shown
    assert ws.is_current(Settings(blur_px=15.0, use_lens=True), newest)  # settings compare by value

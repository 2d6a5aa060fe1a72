"""End to end: ``lensblur ui`` in a child process, driven in Debian's chromium through playwright.

Skips, saying why, when chromium or playwright is missing (install: ``apt-get install -y chromium``;
``.ci/run`` installs it, so CI always runs these). ``LENSBLUR_UPDATE_SCREENSHOT=1`` writes the screenshot the
README shows (docs/ui.png); otherwise it goes to the test's temporary folder.
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest


def _missing(reason: str) -> None:
    """Skip, saying how to install what is missing; in CI (LENSBLUR_REQUIRE_BROWSER=1) fail instead."""
    if os.environ.get("LENSBLUR_REQUIRE_BROWSER") == "1":
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason, allow_module_level=True)


try:
    import gradio  # noqa: F401
    import playwright  # noqa: F401
except ImportError as error:
    _missing(f"the web app's browser tests need gradio and playwright ({error}): pip install -e '.[ui,dev]'")

from lensblur.ui.browser import Page, chromium_path, open_browser, serve  # noqa: E402

if chromium_path() is None:
    _missing("browser tests need Debian's chromium: apt-get install -y chromium (or set LENSBLUR_CHROMIUM)")

ROOT = Path(__file__).resolve().parents[2]
SUBJECT = (390, 300)     # the engine of the bundled Motorcycle (near)
BACKGROUND = (620, 60)   # the shelves behind it (far)
LIMIT_MP = 60            # the app under test reads at most 60 MP (LENSBLUR_MAX_PIXELS, the library's one limit)


def _sharpness(image: np.ndarray, xy: tuple[int, int], half: int = 24) -> float:
    """Mean absolute Laplacian of the grey image in a square around ``xy``: fine detail left there."""
    grey = image.astype(np.float64).mean(axis=2)
    x, y = xy
    patch = grey[y - half: y + half, x - half: x + half]
    lap = 4 * patch[1:-1, 1:-1] - patch[:-2, 1:-1] - patch[2:, 1:-1] - patch[1:-1, :-2] - patch[1:-1, 2:]
    return float(np.abs(lap).mean())


def _png_header_only(path: Path, width: int, height: int) -> None:
    """A PNG whose header declares ``width x height`` and holds almost no data (a decompression bomb's shape)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    import lensblur as lb
    from lensblur.io.samples import motorcycle

    folder = tmp_path_factory.mktemp("ui-files")
    scene = motorcycle()
    paths = {"photo": folder / "motorcycle.png", "depth": folder / "motorcycle_disparity.npy",
             "corrupt": folder / "broken.jpg", "wrong_aspect": folder / "square_depth.npy",
             "huge": folder / "huge.png"}
    lb.save_image(paths["photo"], scene.image)
    np.save(paths["depth"], scene.depth.values[0, 0].numpy())
    paths["corrupt"].write_bytes(b"\xff\xd8\xff\xe0 this is not really a JPEG")
    np.save(paths["wrong_aspect"], np.ones((300, 300), np.float32))
    _png_header_only(paths["huge"], 12_000, 8_400)  # 100.8 MP
    return paths


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ui-server")
    env = {"LENSBLUR_MAX_PIXELS": str(LIMIT_MP * 1_000_000),  # the library's one input limit
           "HF_HOME": str(folder / "hf"), "HF_HUB_OFFLINE": "1"}  # no estimator weights, whatever this machine has
    with serve(env=env, log=folder / "server.log") as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    with open_browser() as b:
        yield b


@pytest.fixture
def page(browser, app_url):
    context = browser.new_context(viewport={"width": 1400, "height": 1100}, accept_downloads=True)
    yield Page(context.new_page(), app_url)
    context.close()


def _open_sample(page: Page, files) -> None:
    page.upload(files["photo"], files["depth"])
    page.wait_status("motorcycle_disparity.npy")
    page.page.wait_for_selector("#preview img")


def test_focus_by_click_aperture_renderer_and_download(page: Page, files, tmp_path):
    _open_sample(page, files)
    page.wait_status("(layered)", timeout_s=120)   # the default renderer's preview replaces the scatter's
    page.expect_new_preview()                      # the scatter alone from here: one preview per action
    page.choose("renderer", "scatter")
    page.wait_new_preview()

    page.click_preview(*SUBJECT)
    near = page.preview_pixels()
    assert near.shape == (500, 741, 3)
    assert _sharpness(near, SUBJECT) > 2.0 * _sharpness(near, BACKGROUND)  # clicked engine sharp, shelves blurred

    page.click_preview(*BACKGROUND)
    far = page.preview_pixels()
    assert _sharpness(far, BACKGROUND) > 2.0 * _sharpness(far, SUBJECT)   # and the other way round

    # aperture: six blades; the preview changes (the shelves' blur takes the hexagon's shape)
    page.page.get_by_text("Aperture").click()
    page.expect_new_preview()
    page.choose("shape", "blades")
    page.wait_new_preview()
    hexagon = page.preview_pixels()
    assert np.abs(hexagon.astype(int) - far.astype(int)).mean() > 0.05
    assert _sharpness(hexagon, BACKGROUND) > 2.0 * _sharpness(hexagon, SUBJECT)  # still focused on the shelves

    # renderer: layered; the scatter preview comes first, then the layered one replaces it
    page.choose("renderer", "layered")
    page.wait_status("(layered)", timeout_s=120)

    screenshot = (ROOT / "docs" / "ui.png" if os.environ.get("LENSBLUR_UPDATE_SCREENSHOT") == "1"
                  else tmp_path / "ui.png")
    page.page.screenshot(path=str(screenshot), full_page=True)
    from PIL import Image

    with Image.open(screenshot) as shot:  # small enough for the README: half size, 256 colours
        small = shot.convert("RGB").resize((shot.width // 2, shot.height // 2), Image.LANCZOS).quantize(256)
    small.save(screenshot, optimize=True)

    with page.page.expect_download(timeout=300_000) as download_info:
        page.page.locator("#render-full").click()
        page.page.wait_for_selector("#download a", timeout=300_000)
        page.page.locator("#download a").first.click()
    saved = tmp_path / download_info.value.suggested_filename
    download_info.value.save_as(saved)
    assert saved.name == "motorcycle_lensblur.png"
    from PIL import Image

    with Image.open(saved) as result:
        assert result.size == (741, 500)
    import cv2

    pixels = cv2.imread(str(saved), cv2.IMREAD_UNCHANGED)
    assert pixels.dtype == np.uint16 and pixels.shape == (500, 741, 3)  # the 16-bit PNG the page promised
    assert "Rendered 741x500 px with layered" in page.status()
    hosts = {url.split("/")[2] for url in page.requests if url.startswith("http")}
    assert hosts == {page.page.url.split("/")[2]}  # nothing fetched from anywhere but the app itself


@pytest.mark.parametrize(("photo", "depth", "expected"), [
    ("corrupt", None, "broken.jpg"),
    ("photo", "wrong_aspect", "cannot show the same view"),
    ("huge", None, f"at most {LIMIT_MP} MP"),
])
def test_bad_input_gets_a_message_in_the_page(page: Page, files, photo, depth, expected):
    page.upload(files[photo], files[depth] if depth else None)
    text = page.wait_status(expected)
    assert text.startswith("Could not do that")
    assert "Traceback" not in page.page.content()
    assert "/tmp/" not in text  # the user's file name, not the server's upload path
    _open_sample(page, files)  # and the app is still up: the next photo opens


def test_tabs_do_not_see_each_others_photos(browser, app_url, files):
    first, second = (Page(browser.new_context().new_page(), app_url) for _ in range(2))
    _open_sample(first, files)
    second.page.reload()
    second.page.wait_for_selector("#photo")
    assert second.status() == "Open a photo to start."
    assert second.preview_src() is None
    first.click_preview(*SUBJECT)  # the first tab keeps working on its own photo
    assert first.preview_pixels().shape == (500, 741, 3)


def test_photo_without_depth_says_how_to_install_the_estimator(page: Page, files):
    page.upload(files["photo"])
    text = page.wait_status("hf download")
    assert "or add a depth or disparity map" in text
    page.page.wait_for_selector("#preview img")  # the photo is shown; the rest of the page keeps working


def test_preview_image_is_served_as_jpeg(page: Page, files):
    _open_sample(page, files)
    from PIL import Image

    data = page.page.request.get(page.preview_src()).body()
    assert Image.open(io.BytesIO(data)).format == "JPEG"  # small and fast to send for the live preview


def test_lens_mode_shows_the_lens_controls_and_asks_for_metres(page: Page, files):
    _open_sample(page, files)  # relative disparity: a lens cannot be simulated without metres
    assert page.page.locator("#blur").is_visible() and not page.page.locator("#f-number").is_visible()
    page.choose("blur-mode", "lens")
    text = page.wait_status("need metric depth")
    assert text.startswith("Could not do that")
    assert page.page.locator("#f-number").is_visible() and not page.page.locator("#blur").is_visible()

"""Driving the web app in a real browser from Python: the end-to-end tests (tests/ui/test_browser.py) and the
latency benchmark (benchmarks/bench_ui.py) share these steps. Needs playwright (pip) and Debian's chromium
(``apt-get install -y chromium``); playwright's own browser download does not work on machines without the
internet, so the system browser is used with flags that keep it off the network.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

__all__ = ["CHROMIUM_FLAGS", "chromium_path", "free_port", "serve", "open_browser", "Page"]

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium_path() -> str | None:
    """The system chromium, or None (then the browser tests skip and say how to install it)."""
    for name in (os.environ.get("LENSBLUR_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"),
                 shutil.which("chromium-browser")):
        if name and os.path.exists(name):
            return name
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve(*, env: dict[str, str] | None = None, log: Path | None = None, timeout_s: float = 120.0) -> Iterator[str]:
    """``lensblur ui`` in a child process on a free localhost port; yields its address, stops it after."""
    port = free_port()
    out = open(log, "w") if log is not None else subprocess.DEVNULL  # noqa: SIM115  (closed below)
    proc = subprocess.Popen([sys.executable, "-m", "lensblur.cli", "ui", "--port", str(port)],
                            stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"lensblur ui exited with status {proc.returncode} before listening"
                                   + (f"; see {log}" if log else ""))
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"lensblur ui did not listen on port {port} within {timeout_s} s") from None
                time.sleep(0.25)
        yield f"http://127.0.0.1:{port}/"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        if log is not None:
            out.close()


@contextlib.contextmanager
def open_browser():
    """Headless system chromium through playwright (a fresh, temporary profile each time); yields the browser."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS[1:], headless=True)
        try:
            yield browser
        finally:
            browser.close()


# sets window.__lensblurMs to the time from the next mousedown on the page (or now, if none comes) to the moment a new
# preview image has been decoded: "from the event to new pixels in the page"
_WATCH = """() => {
  const box = document.querySelector('#preview');
  const old = box.querySelector('img') ? box.querySelector('img').src : null;
  let start = performance.now();
  window.addEventListener('mousedown', () => { start = performance.now(); }, {once: true, capture: true});
  window.__lensblurMs = null;
  const resolve = (ms) => { window.__lensblurMs = ms; };
  {
    const check = () => {
      const img = box.querySelector('img');
      if (img && img.src && img.src !== old) {
        obs.disconnect();
        img.decode().then(() => resolve(performance.now() - start), () => resolve(performance.now() - start));
      }
    };
    const obs = new MutationObserver(check);
    obs.observe(box, {subtree: true, childList: true, attributes: true, attributeFilter: ['src']});
  }
}"""

# client coordinates of natural pixel (x, y) of the preview image, as gradio maps clicks back (object-fit
# contain, never enlarged)
_POINT = """([x, y]) => {
  const img = document.querySelector('#preview img');
  const r = img.getBoundingClientRect();
  const s = Math.min(r.width / img.naturalWidth, r.height / img.naturalHeight, 1);
  const ox = (r.width - img.naturalWidth * s) / 2, oy = (r.height - img.naturalHeight * s) / 2;
  return [r.left + ox + (x + 0.5) * s, r.top + oy + (y + 0.5) * s, img.naturalWidth, img.naturalHeight];
}"""


# the preview's decoded pixels as a PNG data URL (the image is same-origin, so the canvas can be read)
_PIXELS = """async () => {
  let img = null;
  for (let attempt = 0; ; attempt++) {
    img = document.querySelector('#preview img');
    try {
      await img.decode();
      break;
    } catch (err) {  // replaced while it decoded (the slower renderer's preview came in): read the new one
      if (attempt >= 20) throw err;
      await new Promise(done => setTimeout(done, 100));
    }
  }
  const canvas = document.createElement('canvas');
  canvas.width = img.naturalWidth;
  canvas.height = img.naturalHeight;
  canvas.getContext('2d').drawImage(img, 0, 0);
  return canvas.toDataURL('image/png');
}"""


class Page:
    """The app's page in a browser tab, with the steps a photographer takes."""

    def __init__(self, page, url: str) -> None:
        self.page = page
        self.requests: list[str] = []
        page.on("request", lambda request: self.requests.append(request.url))
        page.goto(url)
        page.wait_for_selector("#photo")

    def status(self) -> str:
        # the message itself, without gradio's progress timer that shares the box
        return self.page.locator("#status [data-testid=markdown]").inner_text().strip()

    def wait_status(self, text: str, timeout_s: float = 60.0) -> str:
        """Wait until the status line contains ``text``; returns it."""
        self.page.wait_for_function("t => (document.querySelector('#status [data-testid=markdown]') || {innerText: ''}).innerText.includes(t)", arg=text,
                                    timeout=timeout_s * 1000)
        return self.status()

    def upload(self, photo: Path, depth: Path | None = None) -> None:
        """Open ``photo`` (and a depth file), replacing what is open: the files already there are cleared first."""
        for box in ("#depth-file", "#photo"):
            clear = self.page.locator(f"{box} button[aria-label=Clear]")
            if clear.count():
                clear.first.click()
                self.page.wait_for_selector(f"{box} input[type=file]", state="attached")
        self.page.locator("#photo input[type=file]").set_input_files(str(photo))
        if depth is not None:
            self.page.locator("#depth-file input[type=file]").set_input_files(str(depth))

    def preview_src(self) -> str | None:
        img = self.page.locator("#preview img")
        return img.get_attribute("src") if img.count() else None

    def preview_pixels(self) -> np.ndarray:
        """The preview as the page shows it: ``(h, w, 3)`` uint8 sRGB, read back from the decoded image in the
        page (a canvas), not fetched again from the server."""
        import base64

        from PIL import Image

        url = self.page.evaluate(_PIXELS)
        data = base64.b64decode(url.split(",", 1)[1])
        return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))

    def expect_new_preview(self):
        """Call before an action; ``wait_new_preview()`` after it returns the ms from event to new pixels."""
        self.page.evaluate(_WATCH)

    def wait_new_preview(self, timeout_s: float = 60.0) -> float:
        handle = self.page.wait_for_function("() => window.__lensblurMs", timeout=timeout_s * 1000)
        return float(handle.json_value())

    def click_preview(self, x: int, y: int) -> float:
        """Click natural pixel (x, y) of the preview and wait for the new preview; returns ms to new pixels."""
        self.page.locator("#preview img").scroll_into_view_if_needed()   # a control below may have scrolled it away
        cx, cy, _, _ = self.page.evaluate(_POINT, [x, y])
        self.expect_new_preview()
        self.page.mouse.click(cx, cy)
        return self.wait_new_preview()

    def choose(self, elem_id: str, label: str) -> None:
        """Pick ``label`` in the radio group ``elem_id``."""
        self.page.locator(f"#{elem_id}").get_by_label(label, exact=True).check()

"""The page: gradio controls wired to ``ui/session.py``. Layout, events and queues only; no image maths.

Events (decided for issue #21):

* Every control that changes the look (a click on the preview, a slider let go, a choice made) renders the
  scatter preview at about 1 MP at once. With a slower renderer chosen, a second step renders that
  renderer's preview and replaces the first, unless a newer request came in meanwhile (each request raises
  the tab's ``generation`` and records its settings; a slow result that is not for the newest request's
  settings, or was overtaken while it rendered, is dropped, never shown). Queued requests of one tab keep only
  the latest (``trigger_mode="always_last"``).
* Full-resolution renders share one queue slot across all tabs (``concurrency_id="full"``, limit 1), so two
  people never make the machine render two large images at once; previews have their own slots.
* Each tab has its own :class:`~lensblur.ui.session.Workspace` in ``gr.State``: tabs never see each other's
  photos. Uploads are limited by the library's own pixel limit (``io.limits.MAX_PIXELS``, read from the
  file's header before decoding); gradio's byte limit is derived from it, not set separately.
* Offline: no analytics, system fonts only (the default theme would fetch Google Fonts), no share link,
  no server-side rendering process.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402  (after the analytics switch)

from lensblur.io.limits import MAX_PIXELS  # noqa: E402
from lensblur.render.warm import warm_up  # noqa: E402

from . import session  # noqa: E402
from .session import Settings, Workspace  # noqa: E402

__all__ = ["build_app", "launch", "max_upload_bytes", "THEME"]

PHOTO_TYPES = [".jpg", ".jpeg", ".png", ".tif", ".tiff", ".heic", ".heif"]
DEPTH_TYPES = [".png", ".tif", ".tiff", ".exr", ".npy", ".pfm", ".jpg", ".jpeg"]
SHAPES = ["circle", "blades", "custom image"]
RENDERER_INFO = ("layered (default): see-through blurred foreground edges and no halos at depth edges; the "
                 "scatter preview shows at once and the layered one replaces it a moment later. scatter: the fast "
                 "classical blur alone. hybrid: BokehMe's neural renderer at depth edges.")
EXPORTS = {"16-bit PNG": "png16", "JPEG (keeps EXIF and colour profile)": "jpeg"}
_SYSTEM_FONTS = ["system-ui", "-apple-system", "Segoe UI", "Roboto", "Helvetica Neue", "Arial", "sans-serif"]
_MONO_FONTS = ["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace"]
THEME = gr.themes.Default(font=_SYSTEM_FONTS, font_mono=_MONO_FONTS)  # no web fonts: nothing from the internet
CSS = "#preview img {cursor: crosshair} footer {display: none !important}"


def max_upload_bytes() -> int:
    """gradio's upload size limit, derived from the pixel limit: a float32 RGBA file at ``MAX_PIXELS``."""
    return 16 * MAX_PIXELS


def _settings(focus_xy, focus_range, blur_mode, blur_px, f_number, focal_mm, shape, blades, rotation, roundness,
              aperture_file, highlights, renderer) -> Settings:
    return Settings(
        focus_xy=tuple(focus_xy) if focus_xy else None, focus_range=float(focus_range),
        blur_px=float(blur_px), use_lens=blur_mode != "pixels", f_number=float(f_number),
        focal_length_mm=float(focal_mm), blades=int(blades) if shape == "blades" else None,
        rotation_deg=float(rotation), roundness=float(roundness),
        aperture_image=aperture_file if shape == "custom image" else None, highlights=bool(highlights),
        renderer=renderer)


def _uploads(*paths) -> dict[str, str]:
    return {str(p): Path(p).name for p in paths if p}


def build_app(*, estimator_dir: str | None = None) -> gr.Blocks:
    """The page (not started): ``build_app().launch(...)``, or :func:`launch`."""
    exports_root = Path(tempfile.mkdtemp(prefix="lensblur-ui-"))

    with gr.Blocks(title="lensblur", analytics_enabled=False, delete_cache=(3600, 3600)) as app:
        workspace = gr.State(None)   # this tab's Workspace
        focus = gr.State(None)       # this tab's focus pixel, full resolution (x, y); None = autofocus
        gr.Markdown("## lensblur\nOpen a photo, click what should be sharp, set the blur, render and download.")
        with gr.Row():
            with gr.Column(scale=1, min_width=320):
                photo = gr.File(label="Photo (JPEG, PNG, TIFF, HEIC)", file_types=PHOTO_TYPES, type="filepath",
                                elem_id="photo")
                depth_file = gr.File(label="Depth or disparity map (optional: depth stored in the photo is used, "
                                           "else it is estimated)", file_types=DEPTH_TYPES, type="filepath",
                                     elem_id="depth-file")
                with gr.Row():
                    depth_kind = gr.Radio(["disparity", "depth"], value="disparity", label="The map holds",
                                          info="disparity: near is bright; depth: near is dark (phones, renderers)")
                    depth_scale = gr.Radio(["relative", "metric"], value="relative", label="Units",
                                           info="metric: metres (or 1/m for disparity)")
                status = gr.Markdown("Open a photo to start.", elem_id="status")
                focus_range = gr.Slider(0, 0.5, value=0, step=0.01, label="Focus range",
                                        info="how much of the scene's depth stays sharp around the focus (a whole face)")
                blur_mode = gr.Radio(["pixels", "lens"], value="pixels", label="Blur set by", elem_id="blur-mode",
                                     info="lens: f-number and focal length (needs metric depth)")
                blur_px = gr.Slider(0, 200, value=20, step=0.5, label="Blur strength (px at full resolution)",
                                    info="blur radius between the nearest and farthest point; larger = shallower",
                                    elem_id="blur")
                with gr.Row(visible=False) as lens_row:  # shown in lens mode only
                    f_number = gr.Dropdown([1.2, 1.4, 1.8, 2.0, 2.8, 4.0, 5.6, 8.0, 11.0, 16.0], value=1.8,
                                           label="f-number", elem_id="f-number")
                    focal_mm = gr.Number(50, label="Focal length (mm, full-frame equivalent)", minimum=1)
                with gr.Accordion("Aperture", open=False):
                    shape = gr.Radio(SHAPES, value="circle", label="Shape", elem_id="shape")
                    blades = gr.Slider(3, 12, value=6, step=1, label="Blades")
                    rotation = gr.Slider(0, 180, value=0, step=1, label="Rotation (degrees)")
                    roundness = gr.Slider(0, 1, value=0, step=0.05, label="Blade roundness")
                    aperture_file = gr.File(label="Custom shape (bright = open)", file_types=[".png", ".jpg", ".jpeg"],
                                            type="filepath")
                highlights = gr.Checkbox(False, label="Recover clipped highlights (bright bokeh balls from lights)")
                renderer = gr.Radio(["layered", "scatter", "hybrid"], value=Settings().renderer, label="Renderer",
                                    info=RENDERER_INFO, elem_id="renderer")
                export_kind = gr.Radio(list(EXPORTS), value="16-bit PNG", label="Download as")
                render_button = gr.Button("Render full resolution", variant="primary", elem_id="render-full")
                download = gr.File(label="Full-resolution result", interactive=False, elem_id="download")
            with gr.Column(scale=2):
                preview = gr.Image(label="Preview: click to focus", interactive=False, format="jpeg",
                                   elem_id="preview", buttons=["fullscreen"])
                with gr.Tab("Before / after"):
                    compare = gr.ImageSlider(label="Before / after", interactive=False, format="jpeg",
                                             elem_id="compare")
                with gr.Tab("Depth"):
                    depth_image = gr.Image(label="Depth (bright = near), sharp region in green", interactive=False,
                                           format="jpeg", elem_id="depth-view")

        controls = [focus_range, blur_mode, blur_px, f_number, focal_mm, shape, blades, rotation, roundness,
                    aperture_file, highlights, renderer]
        views = [preview, status]

        def on_open(photo_path, depth_path, kind, scale):
            uploads = _uploads(photo_path, depth_path)
            if not photo_path:
                return None, None, "Open a photo to start.", None, None, None, gr.skip()
            try:
                ws = session.open_photo(photo_path, depth_path, depth_kind=kind, depth_scale=scale,
                                        estimator_dir=estimator_dir)
            except Exception as err:  # every failure becomes a line in the page; the app stays up
                return None, None, _error(err, uploads), None, None, None, gr.skip()
            width = ws.size_hw[1]
            blur = round(0.02 * width, 1)
            settings = Settings(blur_px=blur)
            try:
                image, depth_view = session.preview(ws, settings), session.depth_view(ws, settings)
            except Exception as err:
                return ws, None, _error(err, uploads), ws.original_preview, None, None, gr.skip()
            ws.last_preview = image
            info = f"**{ws.name}**: {width}x{ws.size_hw[0]} px; {ws.depth_note}. Click the preview to focus."
            slider = gr.update(value=blur, maximum=max(200, round(0.1 * width)))
            return ws, None, info, image, (ws.original_preview, image), depth_view, slider

        def fast(ws: Workspace | None, focus_xy, *values):
            # only the preview and the status line: every image sent costs an encode and a fetch before the new
            # pixels show, so the comparison and the depth view follow in the next step (``extras``)
            if ws is None:
                return gr.skip(), "Open a photo first."
            settings = _settings(focus_xy, *values)
            ws.request(settings)
            start = time.perf_counter()
            try:
                image = session.preview(ws, settings)
            except Exception as err:
                return gr.skip(), _error(err, _uploads(settings.aperture_image))
            ws.last_preview = image
            note = f"{ws.depth_note}. Preview {1000 * (time.perf_counter() - start):.0f} ms (scatter)"
            if settings.renderer != "scatter":
                note += f"; rendering the {settings.renderer} preview..."
            return image, note

        def extras(ws: Workspace | None, focus_xy, *values):
            if ws is None or ws.last_preview is None:
                return gr.skip(), gr.skip()
            try:
                depth_view = session.depth_view(ws, _settings(focus_xy, *values))
            except Exception:  # the preview step already put the reason in the status line
                depth_view = gr.skip()
            return (ws.original_preview, ws.last_preview), depth_view

        def slow(ws: Workspace | None, focus_xy, *values):
            settings = _settings(focus_xy, *values)
            if ws is None or settings.renderer == "scatter" or not ws.has_depth:
                return gr.skip(), gr.skip(), gr.skip()
            generation = ws.generation
            if not ws.is_current(settings, generation):  # queued behind a newer request: not worth rendering
                return gr.skip(), gr.skip(), gr.skip()
            start = time.perf_counter()
            try:
                image = session.preview(ws, settings, renderer=settings.renderer)
            except Exception as err:
                if not ws.is_current(settings, generation):
                    return gr.skip(), gr.skip(), gr.skip()
                return gr.skip(), gr.skip(), _error(err, _uploads(settings.aperture_image))
            if not ws.is_current(settings, generation):  # the user asked for something newer meanwhile: drop it
                return gr.skip(), gr.skip(), gr.skip()
            ws.last_preview = image
            note = f"{ws.depth_note}. Preview {time.perf_counter() - start:.1f} s ({settings.renderer})"
            return image, (ws.original_preview, image), note

        def on_click(evt: gr.SelectData, ws: Workspace | None, *values):
            if ws is None or evt.index is None:
                return (None,) + fast(ws, None, *values)
            x, y = evt.index[:2]
            height, width = ws.size_hw
            focus_xy = (min(width - 1, max(0, round(x / ws.scale))), min(height - 1, max(0, round(y / ws.scale))))
            return (focus_xy,) + fast(ws, focus_xy, *values)

        def full(ws: Workspace | None, focus_xy, kind, *values, progress=gr.Progress(track_tqdm=True)):  # noqa: B008 (gradio injects it)
            if ws is None:
                return None, "Open a photo first."
            settings = _settings(focus_xy, *values)
            start = time.perf_counter()
            try:
                progress(0, desc=f"rendering {ws.size_hw[1]}x{ws.size_hw[0]} with {settings.renderer}")
                result = session.render_full(ws, settings, progress=True)
                folder = exports_root / f"{id(ws):x}"
                shutil.rmtree(folder, ignore_errors=True)  # one download per tab is kept on the server
                path = session.export(ws, result, folder, kind=EXPORTS[kind])
            except Exception as err:
                return None, _error(err, _uploads(settings.aperture_image))
            return str(path), (f"Rendered {ws.size_hw[1]}x{ws.size_hw[0]} px with {settings.renderer} in "
                               f"{time.perf_counter() - start:.1f} s: download below.")

        blur_mode.input(lambda mode: (gr.update(visible=mode == "pixels"), gr.update(visible=mode == "lens")),
                        blur_mode, [blur_px, lens_row], queue=False, show_progress="hidden")
        open_inputs = [photo, depth_file, depth_kind, depth_scale]
        open_outputs = [workspace, focus, status, preview, compare, depth_image, blur_px]
        opened = gr.on([photo.change, depth_file.change, depth_kind.input, depth_scale.input], on_open,
                       open_inputs, open_outputs, concurrency_id="open", concurrency_limit=2)
        preview_options = dict(trigger_mode="always_last", concurrency_id="preview", concurrency_limit=2,
                               show_progress="hidden")
        clicked = preview.select(on_click, [workspace] + controls, [focus] + views, **preview_options)
        changed = gr.on([c.release if isinstance(c, gr.Slider) else c.input for c in controls if c is not aperture_file]
                        + [aperture_file.change], fast, [workspace, focus] + controls, views, **preview_options)
        for event in (clicked, changed):
            event.then(extras, [workspace, focus] + controls, [compare, depth_image], trigger_mode="always_last",
                       concurrency_id="preview", concurrency_limit=2, show_progress="hidden")
        for event in (opened, clicked, changed):
            event.then(slow, [workspace, focus] + controls, [preview, compare, status], trigger_mode="always_last",
                       concurrency_id="preview-slow", concurrency_limit=1, show_progress="minimal")
        render_button.click(full, [workspace, focus, export_kind] + controls, [download, status],
                            concurrency_id="full", concurrency_limit=1)
    return app


def _error(err: BaseException, uploads: dict[str, str]) -> str:
    return "**Could not do that:** " + session.message(err, uploads)


def launch(*, host: str = "127.0.0.1", port: int | None = None, estimator_dir: str | None = None,
           block: bool = True, quiet: bool = False):
    """Start the app on ``host:port`` (localhost by default, no share link); returns gradio's launch result."""
    # load the compiled kernels while the page opens, so the first click is as quick as the next ones
    threading.Thread(target=warm_up, name="lensblur-warm-up", daemon=True).start()
    app = build_app(estimator_dir=estimator_dir)
    app.queue(default_concurrency_limit=1)
    return app.launch(server_name=host, server_port=port, share=False, inbrowser=False, quiet=quiet,
                      prevent_thread_lock=not block, max_file_size=max_upload_bytes(), theme=THEME, css=CSS,
                      footer_links=[], ssr_mode=False, show_error=False, enable_monitoring=False, pwa=False,
                      mcp_server=False)

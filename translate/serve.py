"""A local web page for a trained run: draw or upload an image and see the output beside it, or draw new
samples from an unconditional or labelled run. Built with Gradio; nothing is fetched from outside the
machine (analytics off, system fonts only, no share link), and it binds to localhost unless told otherwise.

``Page`` holds the model and does the work (plain numpy in, numpy out), so it is tested without a browser;
``build_app`` lays it out as a ``gr.Blocks``; ``serve`` loads a run and serves the page."""

from __future__ import annotations

import os
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image

from translate import api, pictures
from translate.data.datasets import set_channels
from translate.data.image_files import flatten_alpha, image_size, load_image, to_tensor_range, to_uint8
from translate.errors import ImageError, UserError
from translate.models.base import Sampler, Translator
from translate.sampling import draw

MAX_UPLOAD_BYTES = 20 * 2**20  # 20 MiB
MAX_UPLOAD_PIXELS = 50_000_000  # e.g. 8660 x 5773; larger files are refused before they are decoded
MAX_SAMPLES = 64
ALL_CLASSES = "(one row per class)"


class UploadError(ImageError):
    """An uploaded file the page cannot use: too large, too many pixels, not an image."""


class ServeError(UserError):
    """The page cannot be served: e.g. the port is taken."""


def _megabytes(n: int) -> str:
    return f"{n / 2**20:.1f} MB" if n >= 2**20 else f"{max(1, round(n / 2**10))} KB"


class Page:
    """What the page's buttons do. Every method returns what the page shows, a message included; a user
    mistake (an empty canvas, a bad file) becomes that message, never an exception in the page."""

    def __init__(self, model, cfg, max_bytes: int = MAX_UPLOAD_BYTES, max_pixels: int = MAX_UPLOAD_PIXELS):
        self.model, self.cfg = model, cfg
        self.max_bytes, self.max_pixels = max_bytes, max_pixels
        self.size = int(cfg.data.crop_size)
        self.device = next(model.parameters()).device

    # -- translating ---------------------------------------------------------------------------------
    def fit_size(self, arr: np.ndarray) -> np.ndarray:
        """Shrink an image larger than the training size: the shorter side to ``size`` (the longer side at
        most twice that), keeping the aspect ratio. Smaller images are left as they are."""
        h, w = arr.shape[:2]
        scale = min(1.0, self.size / min(h, w), 2 * self.size / max(h, w))
        if scale >= 1.0:
            return arr
        out = cv2.resize(arr, (max(2, round(w * scale)), max(2, round(h * scale))), interpolation=cv2.INTER_AREA)
        return out[:, :, None] if out.ndim == 2 else out

    def prepare(self, arr: np.ndarray, direction: str) -> np.ndarray:
        """Any H x W (x 1|3|4) uint8 array -> H' x W' x channels uint8: transparency onto white, resized."""
        arr = np.asarray(arr)
        if arr.dtype != np.uint8:
            arr = np.clip(arr, 0, 255).astype(np.uint8)
        if arr.ndim == 2:
            arr = arr[:, :, None]
        if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4) or min(arr.shape[:2]) < 2:
            raise UploadError(f"expected an image of at least 2x2 pixels, got an array of shape {arr.shape}")
        if arr.shape[2] == 4:
            arr = np.asarray(flatten_alpha(Image.fromarray(arr, "RGBA")))
        elif arr.shape[2] == 1:
            arr = np.repeat(arr, 3, axis=2)
        return set_channels(self.fit_size(arr), self.model.input_channels(direction))

    @torch.no_grad()
    def run(self, arr: np.ndarray, direction: str) -> np.ndarray:
        """A prepared H x W x C uint8 array through the generator -> H x W (x 3) uint8."""
        if direction not in self.model.directions:
            raise UserError(f"this run translates {' and '.join(self.model.directions)} only, not {direction}")
        x = to_tensor_range(arr).unsqueeze(0).to(self.device)
        out = to_uint8(self.model.translate(x, direction)[0])
        return out[:, :, 0] if out.shape[2] == 1 else out

    def translate_sketch(self, value, direction: str = "AtoB"):
        """A drawing from the canvas (an RGBA array, or the editor's dict with 'composite') -> (output, message)."""
        if isinstance(value, dict):
            value = value.get("composite")
        if value is None:
            return None, "The canvas is empty: draw something first."
        arr = np.asarray(value)
        if arr.ndim == 3 and arr.shape[2] == 4 and not arr[:, :, 3].any():
            return None, "The canvas is empty: draw something first."
        try:
            return self._timed(self.prepare(arr, direction), direction, arr.shape)
        except UserError as exc:
            return None, f"Cannot use this drawing: {exc}"

    def read_upload(self, path: str | Path) -> np.ndarray:
        """An uploaded file -> H x W x 3 uint8, refusing files over the size or pixel limits before decoding.
        Messages name the file, not where the server keeps it."""
        path = Path(path)
        name = path.name
        try:
            nbytes = path.stat().st_size
        except OSError:
            raise UploadError(f"{name}: the upload was not received; try again") from None
        if nbytes > self.max_bytes:
            raise UploadError(f"{name} is {_megabytes(nbytes)}; the limit is {_megabytes(self.max_bytes)}")
        try:
            w, h = image_size(path)
            if w * h > self.max_pixels:
                raise UploadError(f"{name} is {w}x{h} pixels; the limit is {self.max_pixels:,} pixels")
            return load_image(path, channels=3)
        except UploadError:
            raise
        except ImageError as exc:
            msg = str(exc).replace(str(path), name).replace("; replace or remove the file", "").replace("; remove the file", "")
            raise UploadError(f"{msg}; upload a PNG, JPEG, WebP, BMP or TIFF image") from None

    def translate_upload(self, path, direction: str = "AtoB"):
        """An uploaded file -> (the input as the model sees it, output, message)."""
        if not path:
            return None, None, "No file: upload an image first."
        try:
            given = self.read_upload(path)
            arr = self.prepare(given, direction)
            shown = arr[:, :, 0] if arr.shape[2] == 1 else arr
            return (shown, *self._timed(arr, direction, given.shape))
        except UserError as exc:
            return None, None, f"Cannot use this upload: {exc}"

    def _timed(self, arr: np.ndarray, direction: str, given: tuple[int, ...] | None = None):
        """(output, message); the message says where the input was scaled down, which a conversion does not do."""
        start = time.perf_counter()
        out = self.run(arr, direction)
        ms = (time.perf_counter() - start) * 1000
        scaled = ""
        if given is not None and tuple(given[:2]) != arr.shape[:2]:
            scaled = f"; scaled down from {given[1]}x{given[0]} to the training size {self.size} (convert keeps each image's size)"
        return out, f"{direction}: {arr.shape[1]}x{arr.shape[0]} pixels in {ms:.0f} ms{scaled}"

    # -- sampling ------------------------------------------------------------------------------------
    def sample(self, n: int = 16, label: str | None = None, seed: int = 0):
        """A grid of new samples -> (grid as H x W x 3 uint8, message)."""
        try:
            n, seed = int(n), int(seed)
        except (TypeError, ValueError):
            return None, "The number of samples and the seed must be whole numbers."
        if not 1 <= n <= MAX_SAMPLES:
            return None, f"The number of samples must be between 1 and {MAX_SAMPLES}, not {n}."
        classes = self.model.info.class_names
        label = None if label in (None, "", ALL_CLASSES) else label
        if label is not None and label not in classes:
            return None, f"Unknown class '{label}'; this run's classes: {', '.join(classes) or 'none'}."
        start = time.perf_counter()
        samples, per_row = draw(self.model, n, label, seed)
        grid = pictures.tile(pictures.visual_rows({"samples": samples}, per_row, plot_size=512))  # 2-D toys: a scatter plot
        what = f"class {label}" if label else ("one row per class" if classes else "")
        ms = (time.perf_counter() - start) * 1000
        return grid, f"{len(samples)} samples, seed {seed}{', ' + what if what else ''}, in {ms:.0f} ms"


def theme():
    """Gradio's default look with system fonts only: the stock theme would load web fonts from outside."""
    import gradio as gr

    return gr.themes.Default(font=["ui-sans-serif", "system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])


def build_app(model, cfg, title: str | None = None, page: Page | None = None):
    """The page as a ``gr.Blocks`` (launch it with ``launch_options()``)."""
    import gradio as gr

    page = page or Page(model, cfg)
    task = model.task
    title = title or f"{cfg.model} ({task})"
    # uploads and outputs Gradio keeps in its temp folder are deleted after an hour
    with gr.Blocks(title=f"translate: {title}", analytics_enabled=False, delete_cache=(3600, 3600)) as app:
        gr.Markdown(f"## translate: {title}")
        if isinstance(model, Translator):
            _translator(gr, page, model)
        elif isinstance(model, Sampler):
            _sampler(gr, page, model)
        else:
            raise UserError(f"model '{cfg.model}' has task '{task}', which the page does not show")
    return app


def _translator(gr, page: Page, model) -> None:
    two_way = len(model.directions) > 1
    gr.Markdown("Draw on the canvas or upload an image; the output appears on the right. "
                f"Inputs larger than the training size ({page.size} pixels) are scaled down.")
    direction = gr.Radio(list(model.directions), value=model.directions[0], label="direction", visible=two_way,
                         elem_id="direction")
    canvas = max(256, page.size)  # the brush radius below makes strokes about one training pixel wide
    with gr.Row():
        with gr.Column():
            with gr.Tab("Draw", elem_id="tab-draw"):
                sketch = gr.Sketchpad(type="numpy", image_mode="RGBA", canvas_size=(canvas, canvas), fixed_canvas=True,
                                      layers=False, transforms=(), label="sketch", elem_id="sketch",
                                      brush=gr.Brush(colors=["#000000", "#808080", "#cc3232", "#3270cc"], default_color="#000000",
                                                     default_size=max(1, round(canvas / page.size / 2)), color_mode="defaults"))
                draw_btn = gr.Button("Translate drawing", variant="primary", elem_id="translate-sketch")
            with gr.Tab("Upload", elem_id="tab-upload"):
                upload = gr.File(label=f"image (up to {_megabytes(page.max_bytes)})", file_count="single",
                                 file_types=["image"], type="filepath", elem_id="upload")
                seen = gr.Image(label="input as the model sees it", interactive=False, height=260, buttons=["fullscreen"],
                                elem_id="seen")
        with gr.Column():
            output = gr.Image(label="output", interactive=False, format="png", height=350,
                              buttons=["download", "fullscreen"], elem_id="output")
            message = gr.Markdown(elem_id="message")
    draw_btn.click(page.translate_sketch, [sketch, direction], [output, message], api_name="translate_sketch")
    upload.upload(page.translate_upload, [upload, direction], [seen, output, message], api_name="translate_upload")


def _sampler(gr, page: Page, model) -> None:
    classes = list(model.info.class_names)
    gr.Markdown("New samples from the run's generator; the same seed gives the same grid.")
    with gr.Row():
        with gr.Column(scale=1):
            n = gr.Slider(1, MAX_SAMPLES, value=16, step=1, label="samples", elem_id="n")
            seed = gr.Number(value=0, precision=0, label="seed", elem_id="seed")
            label = gr.Dropdown([ALL_CLASSES, *classes], value=ALL_CLASSES, label="class", visible=bool(classes),
                                elem_id="label")
            button = gr.Button("Sample", variant="primary", elem_id="sample")
        with gr.Column(scale=2):
            grid = gr.Image(label="samples", interactive=False, format="png", height=480,
                            buttons=["download", "fullscreen"], elem_id="output")
            message = gr.Markdown(elem_id="message")
    button.click(page.sample, [n, label, seed], [grid, message], api_name="sample")


# small outputs (a 64-pixel run) fill their box instead of sitting in its middle
CSS = "#output img, #seen img { width: 100%; height: 100%; object-fit: contain; }"


def launch_options(host: str = "127.0.0.1", port: int = 7860, max_bytes: int = MAX_UPLOAD_BYTES) -> dict:
    """Arguments for ``gr.Blocks.launch``: local only, nothing fetched or reported outside, no share link."""
    return dict(server_name=host, server_port=port, share=False, max_file_size=max_bytes, theme=theme(), css=CSS,
                ssr_mode=False, pwa=False, mcp_server=False, enable_monitoring=False, run_history=False,
                footer_links=[], show_error=False, quiet=True, inbrowser=False)


def offline_environment() -> None:
    """Switch off everything in Gradio and the Hugging Face client that would call out (set before import)."""
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


def serve(run_dir: str | Path, host: str = "127.0.0.1", port: int = 7860, device: str = "auto", block: bool = True,
          announce=print):
    """Load a run (a run folder, or the name of an official pretrained generator: with the other direction
    where that is published too) and serve its page at http://host:port/. With ``block=False`` return the running app
    (stop it with ``app.close()``); otherwise serve until interrupted."""
    offline_environment()
    if not 0 < int(port) < 65536:
        raise ServeError(f"port must be between 1 and 65535, not {port}")
    model, cfg = api.load_run(run_dir, device=device, both_ways=True)  # a pretrained name: both ways where published
    app = build_app(model, cfg, title=f"{Path(run_dir).name} - {cfg.model} ({model.task})")
    app.queue(default_concurrency_limit=1)
    try:
        app.launch(prevent_thread_lock=True, **launch_options(host, port))
    except OSError as exc:
        reason = str(exc).splitlines()[0].split(". ")[0] if str(exc) else type(exc).__name__
        raise ServeError(f"cannot listen on {host}:{port} ({reason}); the port may be in use: choose another one") from None
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}/"
    announce(f"serving {run_dir} ({cfg.model}, {model.task}) at {url}")
    if host not in ("127.0.0.1", "localhost", "::1"):
        announce(f"note: listening on {host}: other machines on the network can open this page; it has no login")
    if not block:
        return app
    try:
        while True:
            time.sleep(0.5)
    finally:
        app.close()

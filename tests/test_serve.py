"""``translate serve``: the page's functions without a browser, the command, and one real-browser run
(headless Chromium through Selenium) that draws on the canvas and reads the output back."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from translate.cli import app
from translate.config import Config, DataConfig
from translate.data.image_files import to_tensor_range, to_uint8
from translate.types import DataInfo
from translate.registry import create_model
from translate.serve import MAX_UPLOAD_BYTES, Page, UploadError

SIZE = 32


def page_for(name: str, info: DataInfo | None = None, crop: int = SIZE, opts: dict | None = None, **limits) -> Page:
    torch.manual_seed(0)
    opts = {**({"ngf": 4, "ndf": 4} if name in ("pix2pix", "cyclegan") else {"ngf": 8, "ndf": 8, "nz": 8}), **(opts or {})}
    model = create_model(name, info or DataInfo(input_nc=3, output_nc=3, size=crop), opts).eval()
    return Page(model, Config(model=name, data=DataConfig(crop_size=crop, load_size=crop)), **limits)


def sketch(size: int = 128) -> np.ndarray:
    """What the canvas sends: RGBA, transparent except two black strokes."""
    arr = np.zeros((size, size, 4), np.uint8)
    arr[size // 4 : size // 4 + 4, 10:-10] = (0, 0, 0, 255)
    arr[10:-10, size // 2 : size // 2 + 4] = (0, 0, 0, 255)
    return arr


# -- the page's functions ---------------------------------------------------------------------------------
def test_sketch_goes_onto_white_is_scaled_to_the_training_size_and_through_the_generator():
    page = page_for("pix2pix")
    prepared = page.prepare(sketch(), "AtoB")
    assert prepared.shape == (SIZE, SIZE, 3)
    assert (prepared[0, 0] == 255).all(), "transparent canvas must become white, not black"
    assert prepared[SIZE // 4, SIZE // 4].max() < 128, "the stroke must survive the downscale"
    out, message = page.translate_sketch({"background": None, "layers": [], "composite": sketch()}, "AtoB")
    assert out.shape == (SIZE, SIZE, 3) and out.dtype == np.uint8
    with torch.no_grad():
        expected = to_uint8(page.model.translate(to_tensor_range(prepared)[None], "AtoB")[0])
    np.testing.assert_array_equal(out, expected)
    assert message.startswith(f"AtoB: {SIZE}x{SIZE} pixels in ")


def test_empty_canvas_and_unknown_direction_are_messages():
    page = page_for("pix2pix")
    assert page.translate_sketch(None) == (None, "The canvas is empty: draw something first.")
    assert page.translate_sketch({"composite": np.zeros((64, 64, 4), np.uint8)})[0] is None
    out, message = page.translate_sketch(sketch(), "BtoA")
    assert out is None and message == "Cannot use this drawing: this run translates AtoB only, not BtoA"


@pytest.mark.parametrize("hw, expected", [
    ((300, 200), (48, 32)),   # the shorter side to the training size
    ((20, 24), (20, 24)),     # smaller than the training size: left alone
    ((1000, 100), (64, 6)),   # a long strip: the longer side at most twice the training size
])
def test_large_inputs_shrink_keeping_their_aspect(hw, expected):
    assert page_for("pix2pix").fit_size(np.zeros((*hw, 3), np.uint8)).shape == (*expected, 3)


def test_upload_is_translated_and_shown_as_the_model_sees_it(tmp_path):
    page = page_for("pix2pix")
    Image.new("RGBA", (90, 60), (255, 0, 0, 255)).save(tmp_path / "photo.png")
    seen, out, message = page.translate_upload(str(tmp_path / "photo.png"))
    assert seen.shape == (32, 48, 3) and (seen == (255, 0, 0)).all()
    assert out.shape == (32, 48, 3) and message.startswith("AtoB: 48x32 pixels")


def test_unpaired_direction_picks_the_generator_and_the_channels():
    page = page_for("cyclegan", DataInfo(input_nc=3, output_nc=1, size=SIZE), opts={"lambda_identity": 0})
    assert page.model.directions == ("AtoB", "BtoA")
    assert page.prepare(sketch(), "AtoB").shape[2] == 3 and page.prepare(sketch(), "BtoA").shape[2] == 1
    gray, message = page.translate_sketch(sketch(), "AtoB")  # A is RGB, B grayscale
    assert gray.shape == (SIZE, SIZE) and message.startswith("AtoB")
    rgb, message = page.translate_sketch(sketch(), "BtoA")
    assert rgb.shape == (SIZE, SIZE, 3) and message.startswith("BtoA")
    with torch.no_grad():
        x = to_tensor_range(page.prepare(sketch(), "BtoA"))[None]
        np.testing.assert_array_equal(rgb, to_uint8(page.model.netG_BA(x)[0]))


@pytest.mark.parametrize("content, limits, words", [
    (b"this is not an image", {}, r"bad.png: cannot read image \(.*\); upload a PNG, JPEG, WebP, BMP or TIFF image$"),
    (b"\x89PNG\r\n\x1a\n" + b"\0" * 64, {}, r"bad.png: cannot read image \(.*\); upload a PNG"),
    ("big", {"max_bytes": 1024}, r"bad.png is \d KB; the limit is 1 KB$"),
    ("big", {"max_pixels": 400}, r"bad.png is 40x30 pixels; the limit is 400 pixels$"),
])
def test_bad_uploads_are_one_clear_message_without_server_paths(tmp_path, content, limits, words):
    page = page_for("pix2pix", **limits)
    path = tmp_path / "bad.png"
    if content == "big":
        Image.fromarray(np.random.default_rng(0).integers(0, 255, (30, 40, 3), dtype=np.uint8)).save(path)
    else:
        path.write_bytes(content)
    seen, out, message = page.translate_upload(str(path))
    assert seen is None and out is None
    assert re.match(f"Cannot use this upload: {words}", message), message
    assert str(tmp_path) not in message and "Traceback" not in message


def test_the_default_upload_limit_refuses_a_file_over_20_mb_before_reading_it(tmp_path):
    assert MAX_UPLOAD_BYTES == 20 * 2**20
    path = tmp_path / "huge.png"
    with open(path, "wb") as f:
        f.truncate(MAX_UPLOAD_BYTES + 1)  # sparse: no 20 MB written
    with pytest.raises(UploadError, match=r"^huge.png is 20.0 MB; the limit is 20.0 MB$"):
        page_for("pix2pix").read_upload(path)
    assert page_for("pix2pix").translate_upload(None) == (None, None, "No file: upload an image first.")


def test_sample_button_of_a_gan_run_returns_the_seeded_grid():
    from translate.pictures import tile, visual_rows
    from translate.sampling import draw

    page = page_for("gan")
    grid, message = page.sample(9, None, 3)
    assert grid.dtype == np.uint8 and grid.shape == (3 * SIZE + 4, 3 * SIZE + 4, 3)
    np.testing.assert_array_equal(grid, tile(visual_rows({"samples": draw(page.model, 9, None, 3)[0]}, 3)))
    assert message.startswith("9 samples, seed 3, in ")
    assert not np.array_equal(grid, page.sample(9, None, 4)[0]), "another seed must give another grid"
    assert page.sample(0) == (None, "The number of samples must be between 1 and 64, not 0.")


def test_sample_button_of_a_cgan_run_takes_a_class():
    page = page_for("cgan", DataInfo(input_nc=3, output_nc=3, size=SIZE, class_names=("circle", "square")))
    rows, message = page.sample(4, "(one row per class)", 0)
    assert rows.shape[0] == 2 * SIZE + 2 and "one row per class" in message
    one, message = page.sample(4, "square", 0)
    assert one.shape == (2 * SIZE + 2, 2 * SIZE + 2, 3) and "class square" in message
    assert page.sample(4, "hexagon", 0) == (None, "Unknown class 'hexagon'; this run's classes: circle, square.")


def test_layout_follows_the_model():
    pytest.importorskip("gradio")
    from translate.serve import build_app, launch_options

    def components(page):
        blocks = build_app(page.model, page.cfg, page=page).blocks.values()
        return {b.elem_id: b for b in blocks if getattr(b, "elem_id", None)}

    paired = components(page_for("pix2pix"))
    assert {"sketch", "upload", "output", "translate-sketch", "message"} <= set(paired)
    assert paired["direction"].visible is False and "sample" not in paired
    unpaired = components(page_for("cyclegan"))
    assert unpaired["direction"].visible is True and unpaired["direction"].choices == [("AtoB", "AtoB"), ("BtoA", "BtoA")]
    gan = components(page_for("gan"))
    assert {"sample", "n", "seed", "output"} <= set(gan) and "sketch" not in gan and gan["label"].visible is False
    cgan = components(page_for("cgan", DataInfo(input_nc=3, output_nc=3, size=SIZE, class_names=("a", "b"))))
    assert cgan["label"].visible is True and [c[0] for c in cgan["label"].choices] == ["(one row per class)", "a", "b"]
    opts = launch_options()
    assert opts["server_name"] == "127.0.0.1" and opts["share"] is False and opts["max_file_size"] == MAX_UPLOAD_BYTES
    assert "url(" not in opts["theme"]._get_theme_css().replace("url('data:", "").replace('url("data:', ""), "web fonts"


# -- the command ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A pix2pix run trained for two steps at 64x64 (made on first use, once per module)."""
    made = []

    def make() -> Path:
        if not made:
            from typer.testing import CliRunner

            from translate.data.synthetic import make_paired

            root = tmp_path_factory.mktemp("serve")
            data = make_paired(root / "paired", n=8, size=64)
            fit = CliRunner().invoke(app, ["fit", "--paired", str(data), "--runs-dir", str(root / "runs"), "--name", "p",
                                           "--steps", "2", "--load-size", "64", "--crop-size", "64", "--ngf", "4",
                                           "--ndf", "4", "--device", "cpu"])
            assert fit.exit_code == 0, fit.output
            made.append(root / "runs" / "p")
        return made[0]

    return make


def test_a_port_in_use_is_a_one_line_error(runner, tiny_run):
    pytest.importorskip("gradio")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = runner.invoke(app, ["serve", str(tiny_run()), "--port", str(port), "--device", "cpu"])
    assert result.exit_code == 2, result.output
    assert result.output.startswith(f"error: cannot listen on 127.0.0.1:{port} (") and result.output.count("\n") == 1, result.output
    assert result.output.rstrip().endswith("the port may be in use: choose another one")


def test_serve_command_errors(runner, tmp_path, monkeypatch):
    from importlib import metadata

    result = runner.invoke(app, ["serve", str(tmp_path)])
    assert result.exit_code == 2 and result.output.startswith(f"error: {tmp_path}: not a run folder"), result.output
    result = runner.invoke(app, ["serve", str(tmp_path), "--port", "70000"])
    assert result.exit_code == 2 and "error: --port must be between 1 and 65535, not 70000" in result.output

    def missing(name):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "version", missing)
    result = runner.invoke(app, ["serve", str(tmp_path)])
    assert result.exit_code == 2 and result.output == 'error: the web page needs Gradio: pip install "translate-gan[serve]"\n'
    help_text = runner.invoke(app, ["serve", "--help"], env={"COLUMNS": "200"}).output
    assert "--port" in help_text and "7860" in help_text and "--host" in help_text and "127.0.0.1" in help_text


# -- in a real browser ----------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_page(url: str, proc: subprocess.Popen, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the server exited with {proc.returncode}: {log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"{url} did not answer within {timeout} s")


@pytest.fixture
def browser():
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if not chromium or not driver_path:
        pytest.skip("chromium/chromedriver not installed: apt-get install chromium chromium-driver")
    pytest.importorskip("selenium")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium  # the system binary: Selenium Manager never downloads one
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,800",
                "--enable-unsafe-swiftshader", "--no-first-run", "--disable-extensions"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=opts)
    driver.set_page_load_timeout(30)
    driver.set_script_timeout(10)
    try:
        yield driver
    finally:
        driver.quit()


def test_draw_in_a_browser_and_get_the_output(tiny_run, tmp_path, browser):
    pytest.importorskip("gradio")
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    start = time.monotonic()
    run = tiny_run()
    port = _free_port()
    url = f"http://127.0.0.1:{port}/"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH", "")])}
    log = open(tmp_path / "server.log", "w+")
    proc = subprocess.Popen([sys.executable, "-m", "translate", "serve", str(run), "--port", str(port),
                             "--device", "cpu"], stdout=log, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        _wait_for_page(url, proc, tmp_path / "server.log", timeout=60)
        browser.get(url)
        wait = WebDriverWait(browser, 20)
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#sketch canvas"))
        browser.find_element(By.CSS_SELECTOR, "#sketch button[aria-label='Brush']").click()
        canvas = browser.find_elements(By.CSS_SELECTOR, "#sketch canvas")[-1]
        strokes = ActionChains(browser, duration=20)  # ms per pointer move (default 250)
        for x0, y0, dx, dy in ((-80, -80, 16, 12), (-80, 60, 16, -5), (0, -100, 0, 18)):
            strokes.move_to_element_with_offset(canvas, x0, y0).click_and_hold()
            for _ in range(10):
                strokes.move_by_offset(dx, dy)
            strokes.release()
        strokes.perform()
        browser.find_element(By.ID, "translate-sketch").click()

        def loaded_output(d):
            imgs = d.find_elements(By.CSS_SELECTOR, "#output img")
            sizes = [d.execute_script("return arguments[0].complete ? [arguments[0].naturalWidth, arguments[0].naturalHeight] : null", i)
                     for i in imgs]
            return next((s for s in sizes if s and s[0]), False)

        assert WebDriverWait(browser, 30).until(loaded_output) == [64, 64]  # the 256-pixel canvas at the training size
        assert browser.find_element(By.ID, "message").text.startswith("AtoB: 64x64 pixels in ")
        # (an untouched canvas gives "The canvas is empty" and no output, so the strokes reached the server)
        shot = tmp_path / "serve.png"
        assert browser.save_screenshot(str(shot))
        r = canvas.rect
        drawn = np.asarray(Image.open(shot).convert("L"))[int(r["y"]):int(r["y"] + r["height"]), int(r["x"]):int(r["x"] + r["width"])]
        assert drawn.size and drawn.min() < 60, "no dark strokes on the canvas in the screenshot"
        requested = set()
        for entry in browser.get_log("performance"):
            msg = json.loads(entry["message"])["message"]
            if msg["method"] == "Network.requestWillBeSent":
                requested.add(msg["params"]["request"]["url"])
        assert any(u.startswith(url) for u in requested)
        outside = sorted(u for u in requested if not u.startswith((f"http://127.0.0.1:{port}/", "data:", "blob:")))
        assert not outside, f"the page fetched from outside: {outside}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()
    elapsed = time.monotonic() - start
    assert elapsed < 120, f"the browser test took {elapsed:.0f} s"

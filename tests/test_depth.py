"""16-bit and grayscale end to end: 16-bit inputs reach the model at full precision and come out 16-bit,
a grayscale model reads and writes single-channel files; and the one-image API of ``translate.load_run``."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

import translate
from test_cli import fit, one_line_error
from translate.cli import app
from translate.data.image_files import to_tensor_range
from translate.errors import ArgumentError, WrongRunError


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A tiny grayscale pix2pix run and a tiny RGB one."""
    from typer.testing import CliRunner

    from translate.data.synthetic import make_paired

    tmp = tmp_path_factory.mktemp("depth")
    data = make_paired(tmp / "paired", n=4, size=64)
    runner = CliRunner()
    for name, extra in (("gray", ["--input-nc", "1", "--output-nc", "1"]), ("rgb", [])):
        result = fit(runner, data, tmp, "--name", name, *extra)
        assert result.exit_code == 0, result.output
    return tmp / "runs" / "gray", tmp / "runs" / "rgb"


def ramp16(channels: int) -> np.ndarray:
    """A 64x64 uint16 image whose values are mostly not multiples of 257 (not 8-bit values scaled up)."""
    base = (np.arange(64 * 64, dtype=np.int64).reshape(64, 64) * 13 + 1000) % 65536
    return np.stack([(base * (c + 1)) % 65536 for c in range(channels)], -1).astype(np.uint16)


def model_output16(run_dir, arr: np.ndarray) -> np.ndarray:
    model, _ = translate.load_run(run_dir)
    with torch.no_grad():
        y = model.translate(to_tensor_range(arr)[None])[0]
    return ((y.clamp(-1, 1).double() + 1) * 32767.5).permute(1, 2, 0).numpy()


def test_a_16bit_grayscale_png_through_a_grayscale_run_stays_16bit_single_channel(runs, runner, tmp_path):
    gray_run, _ = runs
    arr = ramp16(1)
    Image.fromarray(arr[:, :, 0]).save(tmp_path / "in.png")
    result = runner.invoke(app, ["convert", str(gray_run), str(tmp_path / "in.png"), str(tmp_path / "out.png")])
    assert result.exit_code == 0, result.output
    with Image.open(tmp_path / "out.png") as img:
        assert img.mode == "I;16" and img.size == (64, 64)
        out = np.asarray(img).astype(np.float64)
    assert np.any(out % 257 != 0)  # not 8-bit values scaled up
    expected = model_output16(gray_run, arr)[:, :, 0]
    assert np.abs(out - expected).max() <= 1  # the model's float output, rounded to 1/65535 (float32 arithmetic: within one level)

    result = runner.invoke(app, ["convert", str(gray_run), str(tmp_path / "in.png"), str(tmp_path / "o8.png"), "--out-depth", "8"])
    assert result.exit_code == 0, result.output
    with Image.open(tmp_path / "o8.png") as img:
        assert img.mode == "L"


def test_8bit_inputs_to_a_grayscale_run_give_single_channel_8bit_files(runs, runner, tmp_path):
    gray_run, _ = runs
    (tmp_path / "in").mkdir()
    Image.fromarray(np.full((64, 64, 3), 90, np.uint8)).save(tmp_path / "in" / "a.png")
    result = runner.invoke(app, ["convert", str(gray_run), str(tmp_path / "in"), str(tmp_path / "out"), "--out-depth", "16"])
    assert result.exit_code == 0, result.output
    with Image.open(tmp_path / "out" / "a.png") as img:
        assert img.mode == "I;16"
    result = runner.invoke(app, ["convert", str(gray_run), str(tmp_path / "in"), str(tmp_path / "out8")])
    assert result.exit_code == 0, result.output
    with Image.open(tmp_path / "out8" / "a.png") as img:
        assert img.mode == "L"


@pytest.mark.parametrize("ext", ["png", "tif"])
def test_16bit_rgb_in_16bit_rgb_out_and_8_on_request(runs, runner, tmp_path, ext):
    _, rgb_run = runs
    arr = ramp16(3)
    (tmp_path / "in").mkdir()
    cv2.imwrite(str(tmp_path / "in" / "a.png"), arr[:, :, ::-1])  # OpenCV writes BGR
    result = runner.invoke(app, ["convert", str(rgb_run), str(tmp_path / "in"), str(tmp_path / "out"), "--ext", ext])
    assert result.exit_code == 0, result.output
    out = cv2.imread(str(tmp_path / "out" / f"a.{ext}"), cv2.IMREAD_UNCHANGED)
    assert out.dtype == np.uint16 and out.shape == (64, 64, 3)
    expected = model_output16(rgb_run, arr)
    assert np.abs(out[:, :, ::-1].astype(np.float64) - expected).max() <= 1

    result = runner.invoke(app, ["convert", str(rgb_run), str(tmp_path / "in"), str(tmp_path / "o8"), "--out-depth", "8"])
    assert result.exit_code == 0, result.output
    with Image.open(tmp_path / "o8" / "a.png") as img:
        assert img.mode == "RGB"


def test_16bit_jpeg_is_refused_in_one_line(runs, runner, tmp_path):
    _, rgb_run = runs
    Image.fromarray(ramp16(1)[:, :, 0]).save(tmp_path / "in.png")
    line = one_line_error(runner.invoke(app, ["convert", str(rgb_run), str(tmp_path / "in.png"), str(tmp_path / "out"),
                                              "--out-depth", "16", "--ext", "jpg"]))
    assert "--out-depth" in line and "--ext" in line and "jpg" in line
    assert not (tmp_path / "out").exists()
    line = one_line_error(runner.invoke(app, ["convert", str(rgb_run), str(tmp_path / "in.png"), str(tmp_path / "out"),
                                              "--out-depth", "12"]))
    assert "--out-depth must be 8, 16 or same" in line


def test_a_16bit_input_to_jpeg_with_same_depth_writes_8_bits(runs, runner, tmp_path):
    _, rgb_run = runs
    Image.fromarray(ramp16(1)[:, :, 0]).save(tmp_path / "in.png")
    result = runner.invoke(app, ["convert", str(rgb_run), str(tmp_path / "in.png"), str(tmp_path / "out.jpg")])
    assert result.exit_code == 0, result.output
    with Image.open(tmp_path / "out.jpg") as img:
        assert img.mode == "RGB"


def test_the_one_image_api(runs, tmp_path):
    gray_run, rgb_run = runs
    run = translate.load_run(gray_run)
    model, cfg = run  # still unpacks as it did
    assert (run.model, run.cfg) == (model, cfg)
    arr = ramp16(1)[:, :, 0]
    out = run.translate(arr)
    assert out.dtype == np.uint16 and out.shape == (64, 64)
    assert np.abs(out - model_output16(gray_run, arr[:, :, None])[:, :, 0]).max() <= 1
    assert run.translate(Image.fromarray(arr)).mode == "I;16"
    assert run.translate(Image.new("L", (40, 30), 100)).size == (40, 30)
    assert run.translate(Image.new("L", (40, 30), 100)).mode == "L"

    rgb = translate.load_run(rgb_run)
    picture = rgb.translate(Image.new("RGB", (48, 32), (10, 200, 30)))
    assert (picture.mode, picture.size) == ("RGB", (48, 32))
    eight = rgb.translate(np.zeros((32, 32, 3), np.uint8))
    assert eight.dtype == np.uint8 and eight.shape == (32, 32, 3)
    with pytest.raises(ArgumentError, match="image must be"):
        rgb.translate(np.zeros((8, 8), np.float32))
    (tmp_path / "in").mkdir()
    Image.new("RGB", (32, 32), (1, 2, 3)).save(tmp_path / "in" / "a.jpg")
    report = rgb.translate_folder(tmp_path / "in", tmp_path / "out", ext="tif", out_depth=16)
    assert report.converted == 1
    assert cv2.imread(str(tmp_path / "out" / "a.tif"), cv2.IMREAD_UNCHANGED).dtype == np.uint16


def test_a_sampler_run_does_not_translate_and_a_translator_does_not_sample(runs):
    from conftest import tiny_info, tiny_opts
    from translate.config import Config
    from translate.registry import create_model, model_config
    from translate.run import Run

    sampler = Run(create_model("gan", tiny_info("gan"), model_config("gan", tiny_opts("gan"))), Config(model="gan"))
    with pytest.raises(WrongRunError):
        sampler.translate(np.zeros((32, 32, 3), np.uint8))
    grid = sampler.sample(4, seed=1)
    assert grid.dtype == np.uint8 and grid.ndim == 3
    with pytest.raises(WrongRunError):
        translate.load_run(runs[1]).sample(4)

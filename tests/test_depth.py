"""16-bit and grayscale end to end: 16-bit inputs reach the model at full precision and come out 16-bit,
a grayscale model reads and writes single-channel files; and the one-image API of ``translate.load_run``.
Also what else decides convert's output files: the PNG compression level and the precision."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

import translate
from test_cli import fit, one_line_error
from translate.cli import app
from translate.data.image_files import to_depth, to_tensor_range
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


def zlib_level_class(path) -> int:
    """The FLEVEL field of the zlib stream in a PNG's first IDAT chunk: 0 for zlib levels 0-1, 1 for 2-5, 2 for 6,
    3 for 7-9 (RFC 1950; zlib writes it from the level it compressed at)."""
    data = path.read_bytes()
    at = data.index(b"IDAT") + 4  # the zlib header: CMF, then FLG whose top two bits are FLEVEL
    return data[at + 1] >> 6


def test_png_outputs_default_to_zlib_level_1_and_every_level_keeps_the_pixels(runs, runner, tmp_path):
    _, rgb_run = runs
    (tmp_path / "in").mkdir()
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(noise).save(tmp_path / "in" / "a8.png")
    cv2.imwrite(str(tmp_path / "in" / "b16.png"), ramp16(3)[:, :, ::-1])  # 16 bits: written through OpenCV
    outputs = {}
    for level in (None, "0", "9"):
        out = tmp_path / f"out{level}"
        result = runner.invoke(app, ["convert", str(rgb_run), str(tmp_path / "in"), str(out)] + (["--png-level", level] if level else []))
        assert result.exit_code == 0, result.output
        outputs[level] = out
    for name in ("a8.png", "b16.png"):
        pixels = [cv2.imread(str(outputs[level] / name), cv2.IMREAD_UNCHANGED) for level in outputs]
        assert pixels[0].dtype == (np.uint16 if name == "b16.png" else np.uint8)
        assert all(np.array_equal(pixels[0], p) for p in pixels[1:])  # lossless at every level
        assert [zlib_level_class(outputs[level] / name) for level in outputs] == [0, 0, 3]
        assert (outputs["0"] / name).stat().st_size > (outputs["9"] / name).stat().st_size
    line = one_line_error(runner.invoke(app, ["convert", str(rgb_run), str(tmp_path / "in"), str(tmp_path / "bad"), "--png-level", "10"]))
    assert line == "error: --png-level must be a whole number from 0 to 9, not '10'"
    assert not (tmp_path / "bad").exists()


def test_bf16_conversion_is_the_bf16_forward_pass_of_each_batch(runs, runner, tmp_path):
    """The autocast block spans every batch (its bf16 weight copies are kept between batches): the outputs are still
    each batch's own bf16 forward pass, and differ from fp32's."""
    _, rgb_run = runs
    (tmp_path / "in").mkdir()
    rng = np.random.default_rng(1)
    images = [rng.integers(0, 256, (64, 64, 3), dtype=np.uint8) for _ in range(3)]
    for i, arr in enumerate(images):
        Image.fromarray(arr).save(tmp_path / "in" / f"{i}.png")
    for precision in ("bf16", "fp32"):
        result = runner.invoke(app, ["convert", str(rgb_run), str(tmp_path / "in"), str(tmp_path / precision), "--precision", precision,
                                     "--batch-size", "2", "--mode", "eval"])
        assert result.exit_code == 0, result.output
    model, _ = translate.load_run(rgb_run, mode="eval")
    x = torch.stack([to_tensor_range(a) for a in images])
    with torch.no_grad(), torch.autocast("cpu", torch.bfloat16):
        expected = [model.translate(x[:2]), model.translate(x[2:])]
    expected = [to_depth(y) for batch in expected for y in batch]
    got = {p: [np.asarray(Image.open(tmp_path / p / f"{i}.png")) for i in range(3)] for p in ("bf16", "fp32")}
    assert all(np.array_equal(e, g) for e, g in zip(expected, got["bf16"]))
    assert any(not np.array_equal(a, b) for a, b in zip(got["bf16"], got["fp32"]))


def _noise_folder(folder, n: int, seed: int = 2):
    folder.mkdir()
    rng = np.random.default_rng(seed)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    return folder


def _outputs(folder, n: int) -> list[np.ndarray]:
    return [np.asarray(Image.open(folder / f"{i}.png")).astype(int) for i in range(n)]


def _spy_compile(monkeypatch, backend: str | None = None) -> list[tuple]:
    """Record the input shape of every call of a function compiled by ``compiled_inference`` (the compiler's probe
    aside); ``backend`` "eager": dynamo traces, no C++ code is generated (fast)."""
    from translate.engine import hardware

    calls, real = [], torch.compile

    def spy(fn=None, **kwargs):
        compiled = real(fn, **({"backend": backend} if backend else {}), **kwargs)
        if fn is hardware._probe:
            return compiled

        def call(x):
            calls.append(tuple(x.shape))
            return compiled(x)
        return call

    monkeypatch.setattr(torch, "compile", spy)
    return calls


def test_compiled_conversion_gives_the_uncompiled_outputs_and_forgets_the_weights_it_froze(runs, tmp_path, monkeypatch):
    """At the run's defaults (pix2pix's paper mode: dropout at inference, drawn as uncompiled code draws it), 5 images
    in batches of 2: two compiled batches and a short one run plain. The compiled code holds the weights frozen in; it
    is dropped when the conversion ends, so a conversion after the weights changed sees the new ones."""
    import warnings

    from translate.errors import ArgumentWarning

    _, rgb_run = runs
    run = translate.load_run(rgb_run)
    _noise_folder(tmp_path / "in", 5)
    calls = _spy_compile(monkeypatch)  # inductor itself, as users run it
    for turn in ("first", "changed"):
        for compiled in (False, True):
            torch.manual_seed(0)  # the same dropout draws
            with warnings.catch_warnings():
                warnings.simplefilter("error", ArgumentWarning)  # a fallback to uncompiled fails the test
                report = run.translate_folder(tmp_path / "in", tmp_path / f"{turn}-{compiled}", batch_size=2, compile=compiled)
            assert report.converted == 5
        plain, fast = _outputs(tmp_path / f"{turn}-False", 5), _outputs(tmp_path / f"{turn}-True", 5)
        assert all(np.abs(a - b).max() <= 1 for a, b in zip(plain, fast))  # float rounding only; dropout drew the same
        if turn == "first":
            with torch.no_grad():
                for p in run.model.parameters():
                    p.mul_(0.5)
    assert calls == [(2, 3, 64, 64)] * 4  # two full batches per compiled conversion; the short ones ran plain
    first = _outputs(tmp_path / "first-True", 5)
    assert all(np.abs(a - b).max() > 1 for a, b in zip(first, fast))  # the second compiled conversion used the new weights


def test_compiled_conversion_routes_full_batches_and_tiles_through_the_compiled_function(runs, tmp_path, monkeypatch):
    """Batches of --batch-size and tiles go through the compiled function; a batch cut short by a change of image size,
    or the last of a size, runs plain; a conversion with nothing left to do compiles nothing."""
    _, rgb_run = runs
    run = translate.load_run(rgb_run, mode="eval")
    (tmp_path / "in").mkdir()
    rng = np.random.default_rng(3)
    for name, side in (("a0", 64), ("a1", 64), ("a2", 64), ("b0", 48), ("c0", 64), ("c1", 64)):
        Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8)).save(tmp_path / "in" / f"{name}.png")
    calls = _spy_compile(monkeypatch, backend="eager")
    report = run.translate_folder(tmp_path / "in", tmp_path / "out", batch_size=2, compile=True)
    assert report.converted == 6
    assert calls == [(2, 3, 64, 64), (2, 3, 64, 64)]  # a0 a1 and c0 c1; a2 (cut short by b0) and b0 ran plain
    calls.clear()
    report = run.translate_folder(tmp_path / "in", tmp_path / "tiles", batch_size=2, compile=True, tile=32, overlap=8)
    assert report.converted == 6 and report.tiled == 6
    assert calls and all(shape[0] == 1 and shape[2:] == (32, 32) for shape in calls)  # every tile, compiled
    calls.clear()
    report = run.translate_folder(tmp_path / "in", tmp_path / "out", batch_size=2, compile=True)
    assert report.skipped == 6 and calls == []


def test_a_networks_own_error_under_compile_comes_out_as_itself_without_the_compiler_note(monkeypatch):
    import warnings

    from translate.engine import hardware

    def broken(x):
        raise ValueError("the network's own error")

    monkeypatch.setattr(torch, "compile", lambda fn=None, **kw: lambda *args: fn(*args))  # a compiled copy that fails as fn does
    with warnings.catch_warnings(record=True) as seen, hardware.compiled_inference(broken, torch.device("cpu")) as fn:
        warnings.simplefilter("always")
        with pytest.raises(ValueError, match="the network's own error"):
            fn(torch.ones(1))
    assert not [w for w in seen if "compile" in str(w.message)]


def test_convert_compile_without_a_usable_compiler_converts_uncompiled_with_a_note(runs, runner, tmp_path, monkeypatch):
    from translate.engine import hardware

    _, rgb_run = runs
    _noise_folder(tmp_path / "in", 2)
    monkeypatch.setattr(hardware, "_compiler_unusable", lambda device: "no C++ compiler found")
    result = runner.invoke(app, ["convert", str(rgb_run), str(tmp_path / "in"), str(tmp_path / "out"), "--compile"])
    assert result.exit_code == 0, result.output
    assert "note: --compile: torch.compile is not usable here (no C++ compiler found); converting uncompiled" in result.output
    assert len(list((tmp_path / "out").iterdir())) == 2

    def failing(fn):  # the compiler is there, but fails on the network
        def call(*args):
            raise RuntimeError("inductor: lowering failed\nmore lines")
        return call

    monkeypatch.undo()
    monkeypatch.setattr(torch, "compile", lambda fn=None, **kw: failing(fn) if fn is not hardware._probe else fn)
    result = runner.invoke(app, ["convert", str(rgb_run), str(tmp_path / "in"), str(tmp_path / "out2"), "--compile", "-b", "2",
                                 "--seed", "3"])
    assert result.exit_code == 0, result.output
    assert "note: --compile: torch.compile is not usable here (inductor: lowering failed); converting uncompiled" in result.output
    result = runner.invoke(app, ["convert", str(rgb_run), str(tmp_path / "in"), str(tmp_path / "out3"), "-b", "2", "--seed", "3"])
    assert result.exit_code == 0, result.output
    assert all(np.array_equal(a, b) for a, b in zip(_outputs(tmp_path / "out2", 2), _outputs(tmp_path / "out3", 2)))


def test_reader_threads_leave_the_process_warning_filters_alone(runs, runner, tmp_path, monkeypatch):
    """``warnings.catch_warnings`` is not thread-safe: threads that decode images inside it (convert's readers, the
    training loader's thread) could leave an 'ignore' filter installed for the whole process, which hid every later
    warning, the library's own notes included. Only the main thread may touch the filters."""
    import threading
    import warnings

    touched = []

    def spy(name, real):
        def call(*args, **kwargs):
            if threading.current_thread() is not threading.main_thread():
                touched.append(name)
            return real(*args, **kwargs)
        return call

    for name in ("simplefilter", "filterwarnings", "resetwarnings"):
        monkeypatch.setattr(warnings, name, spy(name, getattr(warnings, name)))
    monkeypatch.setattr(warnings.catch_warnings, "__enter__", spy("catch_warnings", warnings.catch_warnings.__enter__))
    before = list(warnings.filters)
    _, rgb_run = runs
    _noise_folder(tmp_path / "in", 12)
    report = translate.load_run(rgb_run).translate_folder(tmp_path / "in", tmp_path / "out", batch_size=4)
    assert report.converted == 12
    result = fit(runner, rgb_run.parent.parent / "paired", tmp_path, "--name", "w", "--workers", "0")
    assert result.exit_code == 0, result.output
    assert touched == []
    assert warnings.filters == before

"""Wild files in the input folder: every decodable image is converted, every other entry is reported on one
line that names the file and what is wrong, and nothing crashes or hangs."""

from __future__ import annotations

import io
import os
import random
import struct
import time
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from translate.cli import app
from translate.data.image_files import load_image
from translate.data.synthetic import make_paired
from translate.errors import ImageError
from translate.inference import translate_tiled


def _noise(w, h, seed=0, mode="RGB"):
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).convert(mode)


def _png_header_only(path, w, h):
    """A PNG whose header claims w x h pixels, with almost no data: a decompression bomb's signature."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))


def make_wild(folder, big=True):
    """Every kind of entry the issue lists; returns (entries expected converted, {name: expected message part})."""
    folder.mkdir(parents=True)
    ok, bad = [], {}
    _noise(40, 30).save(folder / "good.jpg")
    ok.append("good.jpg")
    (folder / "zero.jpg").write_bytes(b"")
    bad["zero.jpg"] = "empty file (0 bytes)"
    full = io.BytesIO()
    _noise(64, 64, 1).save(full, "JPEG")
    (folder / "trunc.jpg").write_bytes(full.getvalue()[:400])
    bad["trunc.jpg"] = "cannot read image"
    full = io.BytesIO()
    _noise(64, 64, 2).save(full, "PNG")
    (folder / "trunc.png").write_bytes(full.getvalue()[:300])
    bad["trunc.png"] = "cannot read image"
    (folder / "page.jpg").write_text("<!DOCTYPE html><html><body>404</body></html>")
    bad["page.jpg"] = "not an image (it holds HTML or XML text"
    (folder / "notes.png").write_text("just some notes\n")
    bad["notes.png"] = "not an image (it holds text)"
    _noise(33, 21, 3, "CMYK").save(folder / "cmyk.jpg")
    pal = _noise(24, 24, 4).convert("P")
    pal.info["transparency"] = 0
    pal.save(folder / "palette.png", transparency=0)
    Image.fromarray((np.arange(30 * 20, dtype=np.uint16).reshape(20, 30) * 100)).save(folder / "gray16.png")
    Image.new("RGB", (1, 1)).save(folder / "one.png")
    bad["one.png"] = "too small to use"
    _noise(3, 500, 5).save(folder / "thin.png")
    exif = _noise(40, 20, 6)
    info = exif.getexif()
    info[0x0112] = 6  # rotate 90: stored 40x20, shown 20x40
    exif.save(folder / "rotated.jpg", exif=info)
    _noise(16, 16, 7).save(folder / "UPPER.JPG")
    _noise(16, 16, 8).save(folder / "with space ü.png")
    ok += ["cmyk.jpg", "palette.png", "gray16.png", "thin.png", "rotated.jpg", "UPPER.JPG", "with space ü.png"]
    os.symlink(folder / "loop.png", folder / "loop.png")
    bad["loop.png"] = "symbolic link loop"
    os.symlink(folder / "gone.png", folder / "dangling.png")
    bad["dangling.png"] = "broken symbolic link"
    _noise(16, 16, 9).save(folder / "locked.png")
    os.chmod(folder / "locked.png", 0)
    if os.geteuid() == 0:  # root reads it anyway
        ok.append("locked.png")
    else:
        bad["locked.png"] = "permission denied"
    (folder / "x.jpg").mkdir()  # a folder with an image name: its contents are images like any other
    _noise(16, 16, 10).save(folder / "x.jpg" / "inner.png")
    ok.append("x.jpg/inner.png")
    _png_header_only(folder / "bomb.png", 30000, 30000)
    bad["bomb.png"] = "30000x30000 is 900 megapixels, over the limit of 89; raise --max-pixels to read it"
    if big:
        Image.new("RGB", (9000, 9000), (200, 120, 40)).save(folder / "big.jpg", quality=70)
        ok.append("big.jpg")
    return ok, bad


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from typer.testing import CliRunner

    root = tmp_path_factory.mktemp("wild")
    data = make_paired(root / "pairs", n=4, size=32)
    result = CliRunner().invoke(app, ["fit", "--paired", str(data), "--runs-dir", str(root / "runs"), "--name", "p", "--steps", "1",
                                      "--load-size", "32", "--crop-size", "32", "--ngf", "4", "--ndf", "4", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    return root / "runs" / "p"


def test_convert_a_folder_of_wild_files(runner, run, tmp_path):
    src, out = tmp_path / "wild", tmp_path / "out"
    ok, bad = make_wild(src)
    start = time.perf_counter()
    result = runner.invoke(app, ["convert", str(run), str(src), str(out), "--device", "cpu"])
    seconds = time.perf_counter() - start
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert f"converted {len(ok)} images (1 in tiles)" in result.output and f"{len(bad)} failed" in result.output
    failed = [ln for ln in result.output.splitlines() if ln.startswith("failed: ")]
    assert len(failed) == len(bad), failed
    for name, expected in bad.items():
        line = next((ln for ln in failed if ln.startswith(f"failed: {src / name}: ")), None)
        assert line and expected in line, (name, line)
    produced = sorted(str(p.relative_to(out)) for p in out.rglob("*.png"))
    assert produced == sorted(str(p.with_suffix(".png")) for p in map(__import__("pathlib").Path, ok))
    assert Image.open(out / "thin.png").size == (3, 500)
    assert Image.open(out / "rotated.png").size == (20, 40), "EXIF orientation is applied"
    assert Image.open(out / "big.png").size == (9000, 9000)
    assert not list(out.rglob(".*.tmp")), "a temporary file was left behind"
    assert seconds < 300
    again = runner.invoke(app, ["convert", str(run), str(src), str(out), "--device", "cpu"])
    assert "converted 0 images" in again.output and f"skipped {len(ok)} existing, {len(bad)} failed" in again.output


def test_check_and_fit_follow_the_same_rules(runner, tmp_path):
    src = tmp_path / "wild"
    ok, bad = make_wild(src, big=False)
    result = runner.invoke(app, ["check", str(src), "--layout", "images"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    for name, expected in bad.items():
        if name == "bomb.png":
            expected = "over the limit of 89"
        assert any(str(src / name) in ln and expected in ln for ln in result.output.splitlines()), (name, result.output)
    result = runner.invoke(app, ["fit", "--images", str(src), "--model", "gan", "--image-size", "32", "--steps", "2",
                                 "--batch-size", "4", "--runs-dir", str(tmp_path / "runs"), "--opt", "ngf=4", "--opt", "ndf=4",
                                 "--device", "cpu", "--log-every", "1"])
    assert result.exit_code == 0 and "Traceback" not in result.output, result.output


def test_tiles_blend_to_the_whole_image_output_for_a_local_network():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 5, padding=2), torch.nn.ReLU(), torch.nn.Conv2d(8, 3, 5, padding=2)).eval()
    x = torch.randn(1, 3, 150, 230)
    with torch.no_grad():
        whole = net(x)
        tiled = translate_tiled(net, x, tile=64, overlap=16)  # receptive field 9 px fits in the overlap
    assert tiled.shape == whole.shape
    # within 4 px of a tile edge the zero padding differs; those pixels get no weight where tiles overlap
    assert torch.allclose(tiled, whole, atol=1e-5)


def test_a_fuzz_pass_over_mutated_images_never_crashes_or_hangs(tmp_path):
    rng = random.Random(0)
    seeds = []
    for fmt in ("PNG", "JPEG", "GIF", "BMP", "WEBP", "TIFF"):
        buf = io.BytesIO()
        _noise(32, 24, len(seeds)).save(buf, fmt)
        seeds.append(buf.getvalue())
    outcomes, slowest, start = {"decoded": 0, "reported": 0}, 0.0, time.perf_counter()
    for i in range(300):
        data = bytearray(rng.choice(seeds))
        kind = i % 3
        if kind == 0:  # bit flips
            for _ in range(rng.randint(1, 20)):
                pos = rng.randrange(len(data))
                data[pos] ^= 1 << rng.randrange(8)
        elif kind == 1:  # truncation
            data = data[: rng.randrange(1, len(data))]
        else:  # another format's header on this body
            other = rng.choice(seeds)
            cut = rng.randint(4, 64)
            data = bytearray(other[:cut]) + data[cut:]
        path = tmp_path / f"f{i}.img.png"
        path.write_bytes(bytes(data))
        t0 = time.perf_counter()
        try:
            arr = load_image(path)
            assert arr.dtype == np.uint8 and arr.ndim == 3
            outcomes["decoded"] += 1
        except ImageError as exc:
            assert str(exc).startswith(f"{path}: ") and "\n" not in str(exc)
            outcomes["reported"] += 1
        slowest = max(slowest, time.perf_counter() - t0)
    assert sum(outcomes.values()) == 300 and outcomes["reported"] > 0
    assert slowest < 5.0, f"one file took {slowest:.1f} s"
    print(f"fuzz: 300 files in {time.perf_counter() - start:.1f} s, {outcomes}, slowest {slowest * 1000:.0f} ms")


def test_outputs_are_written_behind_the_model_and_equal_one_image_at_a_time(run, tmp_path, monkeypatch):
    import threading

    from translate import inference
    from translate.api import load_run

    src = tmp_path / "src"
    src.mkdir()
    for i in range(11):  # batches of 4, 4 and 3, and one image of another size between them
        _noise(32 if i != 5 else 48, 32, seed=i).save(src / f"{i:02d}.png")
    threads, save = [], inference.save_image
    monkeypatch.setattr(inference, "save_image", lambda arr, path, *level: (threads.append(threading.current_thread()), save(arr, path, *level)))
    model, _ = load_run(run)
    report = inference.convert_folder(model, src, tmp_path / "out", batch_size=4)
    assert report.converted == 11 and not report.failed
    assert threads and threading.main_thread() not in threads, "outputs are encoded and written off the main thread"
    for i in (0, 5, 10):
        alone = inference.translate_array(model, load_image(src / f"{i:02d}.png", 3, keep_depth=True))
        assert np.array_equal(np.asarray(Image.open(tmp_path / "out" / f"{i:02d}.png")), alone)

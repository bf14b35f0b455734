"""translate export: ONNX (dynamic batch, height and width) and torch.export programs, checked on a real image."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from conftest import one_line_error
from translate import api
from translate import export as export_mod
from translate.cli import app
from translate.data.synthetic import make_paired, make_unpaired

TINY = ["--steps", "1", "--ngf", "4", "--ndf", "4", "--log-every", "1", "--sample-every", "1"]


def _fit(tmp, *args):
    result = CliRunner().invoke(app, ["fit", *args, *TINY, "--runs-dir", str(tmp / "runs"), "--name", "r"])
    assert result.exit_code == 0, result.output
    return tmp / "runs" / "r"


@pytest.fixture(scope="module")
def pix2pix_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pix2pix")
    return _fit(tmp, "--paired", str(make_paired(tmp / "data", n=4, size=64)), "--image-size", "64")


@pytest.fixture(scope="module")
def cyclegan_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cyclegan")
    return _fit(tmp, "--unpaired", str(make_unpaired(tmp / "data", n=4, size=32)), "--image-size", "32")


def export(*args):
    return CliRunner().invoke(app, ["export", *map(str, args)])



def onnx_session(path):
    ort = pytest.importorskip("onnxruntime")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return lambda x: torch.from_numpy(session.run(None, {"x": x.numpy()})[0])


def assert_same(run_onnx, model, shapes, direction="AtoB"):
    gen = torch.Generator().manual_seed(0)
    for shape in shapes:
        x = torch.rand(*shape, generator=gen) * 2 - 1
        with torch.no_grad():
            expected = model.translate(x, direction)
        got = run_onnx(x)
        assert got.shape == expected.shape and float((got - expected).abs().max()) < 1e-3, shape


def test_pix2pix_to_onnx_takes_any_batch_and_size(pix2pix_run, tmp_path):
    pytest.importorskip("onnxruntime")
    import onnx

    out = tmp_path / "g.onnx"
    result = export(pix2pix_run, "--format", "onnx", "--out", out)
    assert result.exit_code == 0, result.output
    assert f"wrote {out} (" in result.output and "onnx): takes any batch size, height and width >= 2" in result.output
    assert "multiple of 64" in result.output  # unet_64: 6 levels
    diff_line = next(ln for ln in result.output.splitlines() if ln.startswith("max difference from the model: "))
    assert f"on {pix2pix_run.parent.parent / 'data'}" in diff_line  # a real image of the run's data
    model, _ = api.load_run(pix2pix_run)
    model.eval()  # what export writes: pix2pix's paper mode (each image's own statistics) with dropout off
    assert_same(onnx_session(out), model, [(1, 3, 64, 64), (3, 3, 128, 64), (2, 3, 50, 70)])
    meta = onnx.load(out)
    props = {p.key: p.value for p in meta.metadata_props}
    assert props["model"] == "pix2pix" and props["direction"] == "AtoB" and props["value_range"] == "[-1, 1]"
    assert props["size_factor"] == "64" and "multiple of 64" in props["input_size"] and "[-1, 1]" in meta.doc_string


def test_cyclegan_to_onnx_either_way(cyclegan_run, tmp_path):
    out = tmp_path / "ba.onnx"
    result = export(cyclegan_run, out, "--direction", "btoa")  # the positional form, format from the suffix
    assert result.exit_code == 0, result.output
    assert "multiple of 4" in result.output and "max difference from the model: " in result.output
    model, _ = api.load_run(cyclegan_run)
    assert_same(onnx_session(out), model, [(1, 3, 32, 32), (4, 3, 48, 40)], "BtoA")


def test_pt2_form_still_works(cyclegan_run, tmp_path):
    out = tmp_path / "g.pt2"
    result = export(cyclegan_run, out)
    assert result.exit_code == 0, result.output
    assert "pt2): takes 32x32 images, any batch size" in result.output and "max difference from the model: " in result.output
    model, _ = api.load_run(cyclegan_run)
    x = torch.rand(3, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        assert torch.allclose(torch.export.load(out).module()(x), model.translate(x), atol=1e-5)


def test_above_the_tolerance_nothing_is_written(pix2pix_run, tmp_path, monkeypatch):
    pytest.importorskip("onnxruntime")
    run = export_mod._onnx_run
    monkeypatch.setattr(export_mod, "_onnx_run", lambda data: (lambda x: run(data)(x) + 0.01))
    out = tmp_path / "g.onnx"
    out.write_text("an older file")
    line = one_line_error(export(pix2pix_run, out), code=1)
    assert line.startswith("error: the exported onnx differs from the model by 1.00e-02 (> 0.001); nothing written")
    assert out.read_text() == "an older file" and sorted(p.name for p in tmp_path.iterdir()) == ["g.onnx"]
    monkeypatch.setitem(export_mod.TOLERANCE, "pt2", -1.0)
    one_line_error(export(pix2pix_run, tmp_path / "g.pt2"), code=1)
    assert not (tmp_path / "g.pt2").exists()


def test_without_data_the_check_runs_on_a_drawn_picture(tmp_path):
    image, source = export_mod.check_image(str(tmp_path / "gone"), "AtoB", 48, 3)
    assert source == "a drawn picture" and image.shape == (1, 3, 48, 48)
    assert -1 <= float(image.min()) < float(image.max()) <= 1 and len(np.unique(image.numpy())) > 50
    assert torch.equal(image, export_mod.check_image("", "AtoB", 48, 3)[0])  # fixed, not random


def test_a_sampler_run_exports_its_generator_of_noise(tmp_path):
    from PIL import Image

    from translate import api

    (tmp_path / "img").mkdir()
    for i in range(4):
        Image.new("RGB", (32, 32), (60 * i, 0, 0)).save(tmp_path / "img" / f"{i}.png")
    run = _fit(tmp_path, "--images", str(tmp_path / "img"), "--model", "gan", "--image-size", "32", "--batch-size", "2")
    result = export(run, tmp_path / "g.onnx")
    assert result.exit_code == 0, result.output
    assert " onnx): takes z: N x 100 noise drawn from N(0, 1); gives N x 3 x 32 x 32 in [-1, 1], any batch size" in result.output
    assert "on seeded noise (tolerance 0.001)" in result.output
    ort = pytest.importorskip("onnxruntime")
    session = ort.InferenceSession(str(tmp_path / "g.onnx"), providers=["CPUExecutionProvider"])
    z = torch.randn(5, 100, generator=torch.Generator().manual_seed(3))
    model, _ = api.load_run(run)
    with torch.no_grad():
        expected = model.netG(z)
    assert float((torch.from_numpy(session.run(None, {"z": z.numpy()})[0]) - expected).abs().max()) < 1e-3
    line = one_line_error(export(run, tmp_path / "h.onnx", "--direction", "BtoA"))
    assert line == "error: --direction: a sampling run maps noise to images and has no direction; leave it out"


@pytest.mark.parametrize("args, message", [
    (["g.txt"], "error: g.txt: export writes *.onnx (ONNX) or *.pt2 (torch.export); name the file so, or give --format"),
    (["--format", "onnx", "--out", "g.pt2"], "error: g.pt2: --format onnx writes a *.onnx file; name it *.onnx"),
    (["--format", "pt2", "--out", "g.bin"], "error: g.bin: --format pt2 writes a *.pt2 file; name it *.pt2"),
    (["--format", "tflite", "--out", "g.tflite"], "error: --format must be onnx or pt2, not 'tflite'"),
    (["a.onnx", "--out", "b.onnx"], "error: give the output file once: a.onnx or --out b.onnx"),
    ([], "error: name the output file: translate export RUN --out FILE.onnx (or FILE.pt2)"),
])
def test_wrong_names_and_formats_are_one_line(pix2pix_run, tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    assert one_line_error(export(pix2pix_run, *args)) == message
    assert not list(tmp_path.iterdir())


def test_missing_onnx_packages_name_the_extra(pix2pix_run, tmp_path, monkeypatch):
    real = export_mod.importlib.util.find_spec
    monkeypatch.setattr(export_mod.importlib.util, "find_spec", lambda name: None if name == "onnxruntime" else real(name))
    line = one_line_error(export(pix2pix_run, tmp_path / "g.onnx"))
    assert line == 'error: ONNX export needs onnxruntime: pip install "translate-gan[onnx]"'

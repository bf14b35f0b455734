"""A model that translates one way on unpaired data (as CUT does), registered here: fit with --eval-every,
evaluate, convert, the serve page and export all use its one direction, and only that one."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
from PIL import Image

from tests.conftest import one_line_error
from tests.test_metrics import StandIn
from translate import api, evaluate, metrics, registry
from translate.cli import app
from translate.data.image_files import load_image, to_tensor_range, to_uint8
from translate.data.synthetic import make_unpaired
from translate.models.cyclegan import CycleGAN
from translate.registry import create_model
from translate.types import DataInfo

NAME = "oneway_test"
REFUSED = (f"error: model '{NAME}' translates one way, and this run was trained AtoB (A -> B); leave out --direction or "
           "train a run with --direction=BtoA")


class OneWay(CycleGAN):
    """CycleGAN's networks and recipe, translating only A -> B: ``translate(x, "BtoA")`` raises, so anything
    that still takes the other way fails loudly."""

    directions = ("AtoB",)


@pytest.fixture(scope="module")
def one_way():
    """The model, registered for this module only: the registry's contract suites never see it."""
    registry.register_model(NAME, task="unpaired")(OneWay)
    yield NAME
    registry._MODELS.pop(NAME, None)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """40x40 images, trained and scored at 32x32."""
    return make_unpaired(tmp_path_factory.mktemp("oneway") / "data", n=4, size=40)


@pytest.fixture(scope="module")
def run(one_way, data):
    from typer.testing import CliRunner

    runs = data.parent / "runs"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(metrics, "load_inception", lambda path=None: StandIn())
        result = CliRunner().invoke(app, ["fit", "--unpaired", str(data), "--model", one_way, "--image-size", "32",
                                          "--opt", "ngf=4", "--opt", "ndf=4", "--steps", "4", "--log-every", "2",
                                          "--sample-every", "100", "--eval-every", "2", "--eval-data", str(data),
                                          "--device", "cpu", "--runs-dir", str(runs), "--name", "oneway"])
    assert result.exit_code == 0, result.output
    return runs / "oneway"


def _eval_rows(run) -> list[dict]:
    with open(run / "metrics.csv", newline="") as fh:
        return [r for r in csv.DictReader(fh) if r.get("eval_fid")]


def _png(path) -> np.ndarray:
    return np.asarray(Image.open(path)).astype(int)


def _generators(model, path) -> tuple[np.ndarray, np.ndarray]:
    """What each generator of ``model`` makes of the image at ``path`` (uint8, H x W x C)."""
    x = to_tensor_range(load_image(path))[None]
    with torch.no_grad():
        return tuple(to_uint8(g(x)[0]).astype(int) for g in (model.netG_AB, model.netG_BA))


def test_eval_every_scores_its_one_direction(run):
    rows = _eval_rows(run)
    assert [int(r["step"]) for r in rows] == [2, 4]
    assert {k for k in rows[0] if k.startswith("eval_")} == {"eval_fid", "eval_fid_AtoB"}
    assert all(float(r["eval_fid"]) == float(r["eval_fid_AtoB"]) for r in rows)  # the mean of its one direction
    assert (run / "generator_best.pt").is_file()


def test_evaluate_scores_its_one_direction_as_the_run_did(run, data, runner, monkeypatch):
    monkeypatch.setattr(metrics, "load_inception", lambda path=None: StandIn())
    result = runner.invoke(app, ["evaluate", str(run), str(data), "--weights", "last", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert [ln.split("FID")[0].strip() for ln in result.output.splitlines() if "FID " in ln and not ln.startswith("note:")] == ["AtoB:"]
    scores = json.loads((run / "eval" / "data_test.json").read_text())
    assert scores["directions"] == ["AtoB"] and "BtoA" not in scores and scores["size"] == 32
    # the same images, the same size rule and the same weights give the score the run logged at its last step
    assert scores["AtoB"]["fid"] == pytest.approx(float(_eval_rows(run)[-1]["eval_fid_AtoB"]), rel=1e-4)


def test_convert_uses_its_direction_and_refuses_the_other(run, data, runner, tmp_path):
    result = runner.invoke(app, ["convert", str(run), str(data / "testA"), str(tmp_path / "out"), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    model, _ = api.load_run(run)
    for src in sorted((data / "testA").glob("*.png")):
        ab, ba = _generators(model, src)
        out = _png(tmp_path / "out" / src.name)
        assert np.abs(out - ab).max() <= 1 and np.abs(out - ba).mean() > 5
    line = one_line_error(runner.invoke(app, ["convert", str(run), str(data / "testB"), str(tmp_path / "ba"),
                                              "--direction", "BtoA", "--device", "cpu"]))
    assert line == REFUSED
    assert not (tmp_path / "ba").exists()


def test_the_serve_page_offers_and_uses_its_one_direction(run, data):
    from translate.serve import Page

    model, cfg = api.load_run(run)
    page = Page(model, cfg)
    src = sorted((data / "testA").glob("*.png"))[0]
    shown, out, message = page.translate_upload(src, "AtoB")
    prepared = to_tensor_range(page.prepare(load_image(src), "AtoB"))[None]
    with torch.no_grad():
        np.testing.assert_array_equal(out, to_uint8(model.netG_AB(prepared)[0]))
    assert message.startswith("AtoB: ")
    assert page.translate_upload(src, "BtoA") == (None, None, "Cannot use this upload: this run translates AtoB only, not BtoA")
    pytest.importorskip("gradio")
    from translate.serve import build_app

    radio = next(b for b in build_app(model, cfg, page=page).blocks.values() if getattr(b, "elem_id", None) == "direction")
    assert radio.visible is False and radio.choices == [("AtoB", "AtoB")]


def test_export_writes_its_direction_and_refuses_the_other(run, runner, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    import onnx

    out = tmp_path / "g.onnx"
    result = runner.invoke(app, ["export", str(run), str(out)])
    assert result.exit_code == 0, result.output
    assert {p.key: p.value for p in onnx.load(out).metadata_props}["direction"] == "AtoB"
    model, _ = api.load_run(run)
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    got = torch.from_numpy(ort.InferenceSession(str(out), providers=["CPUExecutionProvider"]).run(None, {"x": x.numpy()})[0])
    with torch.no_grad():
        assert float((got - model.netG_AB(x)).abs().max()) < 1e-3 and float((got - model.netG_BA(x)).abs().mean()) > 1e-2
    assert one_line_error(runner.invoke(app, ["export", str(run), str(tmp_path / "ba.onnx"), "--direction", "btoa"])) == REFUSED
    assert not (tmp_path / "ba.onnx").exists()


def test_each_direction_reads_its_own_domain(tmp_path):
    """BtoA converts {split}B and compares with the real {split}A (an official *_G_B.pth generator translates
    only that way); the input channels follow the direction."""
    data = make_unpaired(tmp_path / "data", n=2, size=32)
    model = create_model("cyclegan", DataInfo(input_nc=1, output_nc=3, size=32), {"ngf": 4, "ndf": 4, "lambda_identity": 0})
    files = {side: sorted((data / f"test{side}").glob("*.png")) for side in "AB"}
    assert evaluate.unpaired_files(model, data, "test") == {"AtoB": (files["A"], files["B"]), "BtoA": (files["B"], files["A"])}
    # trained with --direction BtoA, the run's domains were swapped: its AtoB generator maps the folder's B to A
    assert evaluate.unpaired_files(model, data, "test", trained="BtoA") == {"AtoB": (files["B"], files["A"]),
                                                                             "BtoA": (files["A"], files["B"])}
    model.directions = ("BtoA",)  # an official *_G_B.pth, loaded as a run trained BtoA
    assert evaluate.unpaired_files(model, data, "test", trained="BtoA") == {"BtoA": (files["B"], files["A"])}
    model.directions = ("AtoB",)  # a one-way model trained on the swapped domains
    assert evaluate.unpaired_files(model, data, "test", trained="BtoA") == {"AtoB": (files["B"], files["A"])}
    assert evaluate.unpaired_files(model, data, "test") == {"AtoB": (files["A"], files["B"])}
    assert (model.input_channels("AtoB"), model.input_channels("BtoA")) == (1, 3)
    assert (model.output_channels("AtoB"), model.output_channels("BtoA")) == (3, 1)

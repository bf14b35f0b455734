"""A newcomer's first hour: the usual mistakes get one clear line (no traceback, no run folder left
behind), the help says what the defaults are, and every command serves or refuses every model."""

from __future__ import annotations

import re

import numpy as np
import pytest
from PIL import Image

from conftest import one_line_error, tiny_opts
from translate.cli import app
from translate.data.synthetic import make_labelled, make_paired, make_unpaired
from translate.registry import get_model_class, list_models

TINY = ["--steps", "1", "--load-size", "32", "--crop-size", "32", "--log-every", "1", "--device", "cpu"]



def _square_photos(folder, n=6, size=40):
    folder.mkdir(parents=True)
    for i in range(n):
        Image.fromarray(np.random.default_rng(i).integers(0, 255, (size, size, 3), dtype=np.uint8)).save(folder / f"{i}.jpg")
    return folder


def test_unpaired_photos_given_as_pairs_are_refused_without_a_run_folder(runner, tmp_path):
    runs = tmp_path / "runs"
    unpaired = make_unpaired(tmp_path / "h2z", n=4, size=32)
    square = _square_photos(tmp_path / "photos")
    cases = [(unpaired, f"error: {unpaired} holds trainA/ and trainB/ (unpaired data), not pairs; pass it as --unpaired DIR"),
             (unpaired / "trainA", f"error: {unpaired / 'trainA'} is one domain of unpaired data, not pairs; pass its parent"),
             (square, f"error: {square}: 6 of 6 images looked at are not A|B pairs (e.g. 40x40; an A|B image is twice as wide")]
    for folder, expected in cases:
        line = one_line_error(runner.invoke(app, ["fit", "--paired", str(folder), "--runs-dir", str(runs), *TINY]))
        assert line.startswith(expected), line
        assert "--unpaired DIR" in line
        result = runner.invoke(app, ["check", str(folder), "--layout", "paired"])
        assert result.exit_code == 1 and "1 problem(s):" in result.output and "--unpaired DIR" in result.output
    assert not runs.exists() or not any(runs.iterdir()), "a refused run left a folder behind"


def test_an_ab_image_of_the_wrong_shape_is_reported(runner, tmp_path):
    pairs = make_paired(tmp_path / "pairs", n=6, size=32)
    Image.new("RGB", (65, 32)).save(pairs / "odd.png")
    result = runner.invoke(app, ["check", str(pairs)])
    assert result.exit_code == 1
    assert f"{pairs / 'odd.png'}: 65x32 is not an A|B pair (A|B images are twice as wide as tall" in result.output


def test_a_failed_fit_leaves_no_run_folder(runner, tmp_path):
    pairs = make_paired(tmp_path / "pairs", n=2, size=32)
    runs = tmp_path / "runs"
    line = one_line_error(runner.invoke(app, ["fit", "--paired", str(pairs), "--runs-dir", str(runs), "--batch-size", "4", *TINY]))
    assert line == "error: the dataset has 2 samples but --batch-size is 4; lower the batch size or add data"
    assert not runs.exists() or not any(runs.iterdir())


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A one-step run of every registered model, on the data its task takes."""
    from typer.testing import CliRunner

    root = tmp_path_factory.mktemp("every")
    data = {"paired": ["--paired", str(make_paired(root / "paired", n=4, size=32))],
            "unpaired": ["--unpaired", str(make_unpaired(root / "unpaired", n=4, size=32))],
            "labelled": ["--labelled", str(make_labelled(root / "labelled", n=6, size=32))],
            "unconditional": ["--images", str(make_labelled(root / "plain", n=6, size=32) / "circle")]}
    out = {}
    for name in list_models():
        opts = [f"--opt={k}={v}" for k, v in tiny_opts(name).items()]
        batch = ["--batch-size", "2"]
        result = CliRunner().invoke(app, ["fit", *data[get_model_class(name).task], "--model", name, "--name", name,
                                          "--runs-dir", str(root / "runs"), *TINY, *batch, *opts])
        assert result.exit_code == 0, result.output
        out[name] = root / "runs" / name
    out["_paired"] = root / "paired"
    return out


@pytest.mark.parametrize("name", list_models())
def test_every_command_serves_or_refuses_every_model_in_one_line(runner, runs, name, tmp_path):
    run = runs[name]
    translator = get_model_class(name).task in ("paired", "unpaired")
    commands = {
        "convert": ["convert", str(run), str(runs["_paired"]), str(tmp_path / "out"), "--device", "cpu"],
        "export": ["export", str(run), str(tmp_path / "g.pt2")],
        "sample": ["sample", str(run), "--n", "4", "--out", str(tmp_path / "s.png"), "--device", "cpu"],
        "evaluate": ["evaluate", str(run), str(runs["_paired"]), "--device", "cpu", "--no-fid"],  # FID: tests/test_metrics.py
    }
    for command, args in commands.items():
        result = runner.invoke(app, args)
        assert "Traceback" not in result.output and not isinstance(result.exception, (AssertionError, TypeError, NotImplementedError))
        serves = {"convert": translator, "export": True, "sample": not translator,  # export: a sampler's generator of noise
                  "evaluate": get_model_class(name).task == "paired"}[command]
        if serves:
            assert result.exit_code == 0, (command, result.output)
        else:
            line = one_line_error(result)
            expected = {"convert": f"error: {name} draws samples and does not convert images; use: translate sample RUN",
                        "sample": f"error: {name} translates images ({get_model_class(name).task}) and does not draw samples; "
                                  "use: translate convert RUN IN OUT"}.get(command)
            assert expected is None or line == expected, line


def test_convert_direction_in_the_users_terms(runner, runs, tmp_path):
    pairs = make_paired(tmp_path / "pairs", n=4, size=32)
    result = runner.invoke(app, ["fit", "--paired", str(pairs), "--direction", "BtoA", "--name", "b2a", "--runs-dir",
                                 str(tmp_path / "runs"), "--ngf", "4", "--ndf", "4", *TINY])
    assert result.exit_code == 0, result.output
    run = tmp_path / "runs" / "b2a"
    for value in ("BtoA", "btoa"):  # the direction it was trained in, any case
        result = runner.invoke(app, ["convert", str(run), str(pairs), str(tmp_path / value), "--direction", value, "--ab", "right"])
        assert result.exit_code == 0, result.output
    line = one_line_error(runner.invoke(app, ["convert", str(run), str(pairs), str(tmp_path / "x"), "--direction", "AtoB"]))
    assert line.startswith("error: this run was trained BtoA (B -> A): its input is the B half of the pairs")
    line = one_line_error(runner.invoke(app, ["convert", str(run), str(pairs), str(tmp_path / "x"), "--direction", "sideways"]))
    assert line == "error: --direction must be AtoB or BtoA, not 'sideways'"
    result = runner.invoke(app, ["convert", str(runs["cyclegan"]), str(pairs), str(tmp_path / "c"), "--direction", "btoa"])
    assert result.exit_code == 0, result.output


def test_convert_takes_a_file_or_a_pattern_and_its_own_half_of_ab_sheets(runner, runs, tmp_path):
    run, pairs = runs["pix2pix"], runs["_paired"]
    result = runner.invoke(app, ["convert", str(run), str(pairs), str(tmp_path / "half")])
    assert result.exit_code == 0
    assert "note: the inputs are A|B pairs like this run's training data: converting their left half (A, the run's input)" \
           in result.output
    assert {Image.open(p).size for p in (tmp_path / "half").iterdir()} == {(32, 32)}
    one = sorted(pairs.glob("*.png"))[0]
    result = runner.invoke(app, ["convert", str(run), str(one), str(tmp_path / "one.png"), "--ab", "left"])
    assert result.exit_code == 0 and Image.open(tmp_path / "one.png").size == (32, 32), result.output
    result = runner.invoke(app, ["convert", str(run), str(pairs / "000[01].png"), str(tmp_path / "glob"), "--ab", "left"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "glob").iterdir()) == ["0000.png", "0001.png"]
    line = one_line_error(runner.invoke(app, ["convert", str(run), str(pairs), str(pairs), "--ab", "left"]))
    assert line == f"error: {pairs}: the output folder is the input folder; pass another folder for the outputs"


def test_resume_refuses_what_it_cannot_change(runner, runs):
    run = runs["pix2pix"]
    line = one_line_error(runner.invoke(app, ["fit", "--resume", str(run), "--image-size", "64", "--seed", "3"]))
    assert line.startswith("error: a resumed run keeps its data, model and settings; it cannot change --image-size, --seed "
                           "(it may change --steps, --steps-decay, --epochs, --epochs-decay, --time-limit, --log-every")
    line = one_line_error(runner.invoke(app, ["fit", "--resume", str(run), "--unpaired", str(runs["_paired"])]))
    assert "it cannot change --unpaired DIR" in line


def test_ctrl_c_exits_130_after_saving(runner, monkeypatch, tmp_path):
    from translate import api

    stopped = {"stopped": True, "step": 3, "total": 10, "run_dir": tmp_path, "last": {}, "sample": "s.png", "checkpoint": "c.pt",
               "checkpoint_bytes": 10, "weights": "g.pt", "weights_bytes": 5, "results": "results.png"}
    monkeypatch.setattr(api, "resume", lambda *a, **k: stopped)
    monkeypatch.setattr(api, "load_config", lambda run: api.model_defaults("pix2pix"))
    result = runner.invoke(app, ["fit", "--resume", str(tmp_path)])
    assert result.exit_code == 130 and f"continue with: translate fit --resume {tmp_path}" in result.output


def test_a_run_stopped_by_its_time_limit_exits_0_and_says_how_to_go_on(runner, monkeypatch, tmp_path):
    from translate import api

    stopped = {"stopped": True, "reason": "time_limit", "step": 3, "total": 10, "run_dir": tmp_path, "last": {},
               "sample": "s.png", "checkpoint": "c.pt", "checkpoint_bytes": 10, "weights": "g.pt", "weights_bytes": 5,
               "results": "results.png"}
    monkeypatch.setattr(api, "resume", lambda *a, **k: stopped)
    monkeypatch.setattr(api, "load_config", lambda run: api.model_defaults("pix2pix"))
    result = runner.invoke(app, ["fit", "--resume", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert f"stopped at the time limit: step 3/10 in {tmp_path}" in result.output
    assert f"continue with: translate fit --resume {tmp_path}" in result.output


def test_help_shows_defaults_and_no_type_labels_on_flags(runner):
    text = runner.invoke(app, ["fit", "--help"], env={"COLUMNS": "200"}).output
    assert "[default: 286; cgan, discogan, gan, wgan, wgan_gp: 64]" in text and "[default: 0]" in text
    assert not re.search(r"\w \.\s", text), "a help text lost its default"
    assert "<bool>" not in text
    assert runner.invoke(app, ["sample", "--help"], env={"COLUMNS": "200"}).output.count("[default: RUN/samples/sample_seedN.png]") == 1
    assert runner.invoke(app, ["--version"]).output.startswith("translate ")


def test_models_describe_themselves_in_whole_sentences(runner):
    text = runner.invoke(app, ["models"]).output.replace("\n" + " " * 25, " ")  # a row wraps at 80 columns
    rows = [ln for ln in text.strip().splitlines() if ln.split() and ln.split()[0] in list_models()]
    assert len(rows) == len(list_models()) and all(ln.rstrip().endswith(".") for ln in rows), rows
    text = runner.invoke(app, ["models", "pix2pix"]).output
    assert text.startswith("pix2pix (paired): Paired translation: a U-Net generator")
    assert "  lambda_l1 = 100.0\n      weight of the L1 distance to the target in the generator loss" in text
    wgan = runner.invoke(app, ["models", "wgan"]).output
    assert "  clip = 0.01\n      critic weights are clipped" in wgan

"""Wrong usage and untrusted files: each a clear one-line message (exit 2), never a traceback, never code run
from a file, never an output outside the output folder."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import one_line_error
from translate.cli import app
from translate.data.synthetic import make_paired, make_unpaired

TINY = ["--steps", "1", "--load-size", "32", "--crop-size", "32", "--ngf", "4", "--ndf", "4", "--device", "cpu", "--log-every", "1"]



@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    from typer.testing import CliRunner

    root = tmp_path_factory.mktemp("usage")
    pairs, unpaired = make_paired(root / "pairs", n=4, size=32), make_unpaired(root / "unpaired", n=4, size=32)
    for name, data in (("p", ["--paired", str(pairs)]), ("c", ["--unpaired", str(unpaired), "--model", "cyclegan"])):
        result = CliRunner().invoke(app, ["fit", *data, "--name", name, "--runs-dir", str(root / "runs"), *TINY])
        assert result.exit_code == 0, result.output
    return root


def test_pairs_given_to_an_unpaired_model(runner, two_runs, tmp_path):
    line = one_line_error(runner.invoke(app, ["fit", "--unpaired", str(two_runs / "pairs"), "--model", "cyclegan",
                                              "--runs-dir", str(tmp_path), *TINY]))
    assert line == (f"error: {two_runs / 'pairs'} holds pairs (A|B images side by side), not unpaired data (trainA/ and trainB/); "
                    "pass it as --paired DIR")


def test_images_kept_at_their_own_sizes(runner, tmp_path):
    data = tmp_path / "d"
    data.mkdir()
    for i, (w, h) in enumerate([(120, 60), (120, 60), (100, 50)]):  # halves of 60 and 50: not multiples of the U-Net's 32
        Image.fromarray(np.random.default_rng(i).integers(0, 255, (h, w, 3), dtype=np.uint8)).save(data / f"{i}.png")
    args = ["fit", "--paired", str(data), "--preprocess", "none", "--runs-dir", str(tmp_path / "runs"), *TINY]
    result = runner.invoke(app, args)  # batch 1: the U-Net pads each image and crops back
    assert result.exit_code == 0, result.output
    line = one_line_error(runner.invoke(app, [*args, "--batch-size", "2"]))
    assert line == ("error: with --preprocess=none the images keep their own sizes, and they differ here (e.g. 100x50 and "
                    "120x60), so a batch cannot hold them together; pass --batch-size=1 or a --preprocess that resizes")


def test_resume_of_a_run_whose_checkpoint_is_another_models(runner, two_runs, tmp_path):
    run = tmp_path / "p"
    shutil.copytree(two_runs / "runs" / "p", run)
    for path in (run / "checkpoints").iterdir():  # every checkpoint of the run replaced by the cyclegan run's
        shutil.copyfile(two_runs / "runs" / "c" / "checkpoints" / "last.pt", path)
    config = (run / "config.yaml").read_text()
    line = one_line_error(runner.invoke(app, ["fit", "--resume", str(run), "--steps", "3"]))
    assert line.startswith(f"error: {run}: its checkpoint does not fit the run's model 'pix2pix' (")
    assert (run / "config.yaml").read_text() == config, "a failed resume rewrote the run's config"


def test_resume_of_a_checkpoint_from_a_newer_version(runner, two_runs, tmp_path):
    run = tmp_path / "p"
    shutil.copytree(two_runs / "runs" / "p", run)
    for name in ("last.pt", "previous.pt"):
        path = run / "checkpoints" / name
        if path.exists():
            state = torch.load(path, weights_only=True)
            torch.save({**state, "version": 99}, path)
    line = one_line_error(runner.invoke(app, ["fit", "--resume", str(run), "--steps", "3"]))
    assert "the checkpoint was written by a newer version of translate (checkpoint version 99" in line


def test_output_folder_inside_the_input_folder_and_a_run_without_weights(runner, two_runs, tmp_path):
    src = make_paired(tmp_path / "in", n=2, size=32)
    line = one_line_error(runner.invoke(app, ["convert", str(two_runs / "runs" / "p"), str(src), str(src / "out")]))
    assert line.startswith(f"error: {src / 'out'}: the output folder is inside the input folder {src}")
    bare = tmp_path / "bare"
    shutil.copytree(two_runs / "runs" / "p", bare)
    (bare / "generator.pt").unlink()
    line = one_line_error(runner.invoke(app, ["convert", str(bare), str(src), str(tmp_path / "o")]))
    assert line == f"error: {bare}: no generator.pt yet; the run has not saved a checkpoint"
    line = one_line_error(runner.invoke(app, ["convert", str(tmp_path / "nothing"), str(src), str(tmp_path / "o")]))
    assert line.startswith(f"error: {tmp_path / 'nothing'}: not a run folder")


class Payload:
    def __reduce__(self):
        return (os.system, ("echo code ran > /dev/null; touch planted-ran",))


def test_planted_pickles_and_yaml_tags_never_run(runner, two_runs, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run = tmp_path / "p"
    shutil.copytree(two_runs / "runs" / "p", run)
    for path in (run / "checkpoints" / "last.pt", run / "checkpoints" / "previous.pt", run / "generator.pt"):
        torch.save({"model": Payload(), "step": 1}, path)
    for args in (["fit", "--resume", str(run)], ["convert", str(run), str(two_runs / "pairs"), str(tmp_path / "o")],
                 ["fit", "--paired", str(two_runs / "pairs"), "--init-from", str(run / "generator.pt"), "--runs-dir",
                  str(tmp_path / "r"), *TINY]):
        line = one_line_error(runner.invoke(app, args))
        assert "cannot load" in line and "damaged or not a translate checkpoint" in line, line
    assert not (tmp_path / "planted-ran").exists(), "code from a file ran"
    evil = tmp_path / "evil.yaml"
    evil.write_text("model: !!python/object/apply:os.system ['touch planted-ran']\n")
    line = one_line_error(runner.invoke(app, ["fit", "--config", str(evil), "--paired", str(two_runs / "pairs")]))
    assert line.startswith(f"error: {evil}: not valid YAML")
    assert not (tmp_path / "planted-ran").exists()


def test_outputs_never_escape_the_output_folder(runner, two_runs, tmp_path):
    src, out, outside = tmp_path / "in", tmp_path / "out", tmp_path / "outside"
    (src / "sub").mkdir(parents=True)
    outside.mkdir()
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(src / "sub" / "a.png")
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(src / "b.png")
    out.mkdir()
    os.symlink(outside, out / "sub")  # a link planted in the output folder
    result = runner.invoke(app, ["convert", str(two_runs / "runs" / "p"), str(src), str(out)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"failed: {out / 'sub' / 'a.png'}: the output would be written outside {out} (through a symbolic link)" in result.output
    assert not list(outside.iterdir()) and (out / "b.png").is_file()

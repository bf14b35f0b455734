"""A run folder is self-contained: its data folders are stored absolute, it resumes from any folder, the
command that started it is accepted again beside --resume, and data that moved is given with the layout's
flag and checked to be the same files."""

from __future__ import annotations

import shutil

import yaml

from conftest import one_line_error
from translate.cli import app
from translate.data.synthetic import make_paired

TINY = ["--load-size", "32", "--crop-size", "32", "--opt", "ngf=8", "--opt", "ndf=8", "--device", "cpu", "--log-every", "1"]


def _start(runner, tmp_path, monkeypatch):
    """A 1-step facades-like run started in ``tmp_path`` with relative paths; its original command."""
    monkeypatch.chdir(tmp_path)
    make_paired(tmp_path / "data" / "facades" / "train", n=4, size=32)
    command = ["fit", "--paired", "data/facades/train", "--direction", "BtoA", "--steps", "1", "--name", "facades", *TINY]
    result = runner.invoke(app, command)
    assert result.exit_code == 0, result.output
    return command


def test_the_data_folder_is_stored_absolute_and_a_run_resumes_from_another_folder(runner, tmp_path, monkeypatch):
    _start(runner, tmp_path, monkeypatch)
    saved = yaml.safe_load((tmp_path / "runs" / "facades" / "config.yaml").read_text())
    assert saved["data"]["root"] == str(tmp_path / "data" / "facades" / "train")
    assert (tmp_path / "runs" / "facades" / "data.txt").read_text().splitlines() == ["0000.png", "0001.png", "0002.png", "0003.png"]
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    result = runner.invoke(app, ["fit", "--resume", "../runs/facades", "--steps", "2"])
    assert result.exit_code == 0, result.output
    assert "done: step 2/2 in ../runs/facades" in result.output


def test_the_original_command_with_resume_added_is_accepted_and_a_changed_value_refused(runner, tmp_path, monkeypatch):
    command = _start(runner, tmp_path, monkeypatch)
    again = [*command, "--resume", "runs/facades"]
    again[again.index("--steps") + 1] = "2"
    result = runner.invoke(app, again)
    assert result.exit_code == 0, result.output
    assert "done: step 2/2 in runs/facades" in result.output
    result = runner.invoke(app, [*again[:-2], "--direction", "btoa", "--model", "pix2pix", "--resume", "runs/facades"])
    assert result.exit_code == 0, result.output  # the same values, spelt otherwise
    changed = [*again]
    changed[changed.index("--direction") + 1] = "AtoB"
    line = one_line_error(runner.invoke(app, changed))
    assert line.startswith("error: a resumed run keeps its data, model and settings; it cannot change --direction (it may "
                           "change --steps,"), line


def test_moved_data_is_given_with_the_layouts_flag_and_checked(runner, tmp_path, monkeypatch):
    _start(runner, tmp_path, monkeypatch)
    shutil.move(tmp_path / "data" / "facades", tmp_path / "moved")
    line = one_line_error(runner.invoke(app, ["fit", "--resume", "runs/facades", "--steps", "2"]))
    assert line == (f"error: {tmp_path / 'data' / 'facades' / 'train'}: the run's data is not there (moved or deleted); pass "
                    "where it is now with --paired DIR")
    shutil.copytree(tmp_path / "moved" / "train", tmp_path / "fewer")
    (tmp_path / "fewer" / "0002.png").unlink()
    line = one_line_error(runner.invoke(app, ["fit", "--resume", "runs/facades", "--steps", "2", "--paired", "fewer"]))
    assert line == ("error: fewer: not the data this run was trained on (3 images where the run had 4; 0002.png is missing); "
                    "pass with --paired DIR the folder its data was moved to")
    result = runner.invoke(app, ["fit", "--resume", "runs/facades", "--steps", "2", "--paired", "moved/train"])
    assert result.exit_code == 0, result.output
    assert "the run's data is now in moved/train (the same files as it had in" in result.output
    saved = yaml.safe_load((tmp_path / "runs" / "facades" / "config.yaml").read_text())
    assert saved["data"]["root"] == str(tmp_path / "moved" / "train")

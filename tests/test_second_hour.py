"""The frictions of a new user's second hour: converting a paired run's A|B files, evaluate on the wrong kind
of folder, fit --unpaired on pairs, and an FID of a handful of images."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from conftest import one_line_error
from translate.cli import app
from translate.data.synthetic import make_paired, make_unpaired

TINY = ["--steps", "1", "--load-size", "32", "--crop-size", "32", "--opt", "ngf=8", "--opt", "ndf=8", "--device", "cpu"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("second_hour")
    return {"root": root, "pairs": make_paired(root / "pairs", n=4, size=32), "unpaired": make_unpaired(root / "h2z", n=4, size=32)}


@pytest.fixture(scope="module")
def btoa(data):
    from typer.testing import CliRunner

    result = CliRunner().invoke(app, ["fit", "--paired", str(data["pairs"]), "--direction", "BtoA", "--name", "btoa",
                                      "--runs-dir", str(data["root"] / "runs"), *TINY])
    assert result.exit_code == 0, result.output
    return data["root"] / "runs" / "btoa"


def test_a_paired_run_converts_its_own_input_half_and_refuses_the_target_half(runner, data, btoa, tmp_path):
    pairs = data["pairs"]
    result = runner.invoke(app, ["convert", str(btoa), str(pairs), str(tmp_path / "own")])
    assert result.exit_code == 0, result.output
    assert "note: the inputs are A|B pairs like this run's training data: converting their right half (B, the run's input)" \
           in result.output
    result = runner.invoke(app, ["convert", str(btoa), str(pairs), str(tmp_path / "right"), "--ab", "right"])
    assert result.exit_code == 0, result.output
    for out in sorted((tmp_path / "own").iterdir()):
        assert Image.open(out).size == (32, 32)
        assert np.array_equal(np.asarray(Image.open(out)), np.asarray(Image.open(tmp_path / "right" / out.name)))
    line = one_line_error(runner.invoke(app, ["convert", str(btoa), str(pairs), str(tmp_path / "left"), "--ab", "left"]))
    assert line == ("error: --ab left is the target half of this run's pairs (A, what it learnt to make); it converts the right "
                    "half (B): pass --ab right or leave it out")


def test_evaluate_of_a_paired_run_on_unpaired_data_says_what_it_needs(runner, data, btoa):
    line = one_line_error(runner.invoke(app, ["evaluate", str(btoa), str(data["unpaired"]), "--no-fid", "--device", "cpu"]))
    assert line == (f"error: this run is paired; {data['unpaired']} holds unpaired data (trainA/ trainB/ testA/ testB/): evaluate "
                    "it with a held-out folder of pairs (A|B images, or A/ and B/ with the same file names)")


@pytest.fixture(scope="module")
def cyclegan(data):
    from typer.testing import CliRunner

    result = CliRunner().invoke(app, ["fit", "--unpaired", str(data["unpaired"]), "--name", "cyclegan",
                                      "--runs-dir", str(data["root"] / "runs"), *TINY])
    assert result.exit_code == 0, result.output
    return data["root"] / "runs" / "cyclegan"


def test_evaluate_of_an_unpaired_run_on_a_folder_without_test_domains(runner, data, cyclegan, tmp_path, monkeypatch):
    from tests.test_metrics import StandIn
    from translate import metrics

    monkeypatch.setattr(metrics, "load_inception", lambda path=None: StandIn())
    val5 = tmp_path / "val5"
    val5.mkdir()
    line = one_line_error(runner.invoke(app, ["evaluate", str(cyclegan), str(val5), "--device", "cpu"]))
    assert line == (f"error: {val5} has no testA/: an unpaired run is evaluated on a folder holding testA/ and testB/ (or trainA/ "
                    "and trainB/ with --split train)")
    result = runner.invoke(app, ["evaluate", str(cyclegan), str(data["unpaired"]), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert ("note: FID from 2 images is not meaningful: it compares the covariance of 2048 Inception features, which takes many "
            "images to estimate (fewer than 50 here; the FID papers use thousands); compare such scores only with each other, on "
            "the same images") in result.output.splitlines()


def test_fit_unpaired_on_a_folder_of_pairs_names_the_paired_flag(runner, data, tmp_path):
    line = one_line_error(runner.invoke(app, ["fit", "--unpaired", str(data["pairs"]), "--runs-dir", str(tmp_path / "runs"), *TINY]))
    assert line == f"error: {data['pairs']} holds pairs (A|B images side by side), not unpaired data (trainA/ and trainB/); pass it " \
                   "as --paired DIR"
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())

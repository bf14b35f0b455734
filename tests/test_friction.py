"""The frictions a new user met (issue 21): each pinned as the line the user now sees."""

from __future__ import annotations

import pytest

from conftest import one_line_error
from translate.cli import app


@pytest.mark.parametrize("typed, ours, what", [("train", "fit", "to train a model"),
                                               ("test", "convert", "to convert images with a trained run"),
                                               ("predict", "convert", "to convert images with a trained run"),
                                               ("val", "evaluate", "to score a run")])
def test_commands_of_other_tools_point_to_ours(runner, typed, ours, what):
    line = one_line_error(runner.invoke(app, [typed, "--paired", "data/facades"]))
    assert line == f"error: translate has no '{typed}' command; {what}, use: translate {ours}"


def test_fit_takes_any_case_and_prints_only_what_it_changes_once_the_data_is_found(runner, tmp_path):
    from translate.data.synthetic import make_paired

    runs = tmp_path / "runs"
    result = runner.invoke(app, ["fit", "--paired", str(tmp_path / "missing"), "--runs-dir", str(runs)])
    assert one_line_error(result) == f"error: {tmp_path / 'missing'}: folder not found; pass the folder that holds your paired images"
    assert "config" not in result.output
    pairs = make_paired(tmp_path / "pairs", n=2, size=32)
    result = runner.invoke(app, ["fit", "--paired", str(pairs), "--direction", "btoa", "--precision", "FP32", "--runs-dir", str(runs),
                                 "--steps", "1", "--image-size", "32", "--ngf", "4", "--ndf", "4", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    start = lines.index(f"config: pix2pix's defaults, except these (all of it in {runs / 'pix2pix' / 'config.yaml'}):")
    assert lines[start + 1:start + 10] == [f"  data.root: {pairs}", "  data.direction: BtoA", "  data.load_size: 32",
                                           "  data.crop_size: 32", "  train.steps: 1", "  train.device: cpu",
                                           f"  run.runs_dir: {runs}", "  model.ngf: 4", "  model.ndf: 4"]
    assert not lines[start + 10].startswith("  "), "only changed values are printed"
    assert "  direction: BtoA  #" in (runs / "pix2pix" / "config.yaml").read_text()

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

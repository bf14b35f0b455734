"""Crash safety: a process killed at any moment (SIGKILL, power loss) loses nothing that a resume or a rerun
cannot redo exactly."""

from __future__ import annotations

import csv

import pytest
import torch

from conftest import tiny_paired_config
from translate import api
from translate.engine import run_folder
from translate.engine.trainer import Trainer
from translate.errors import UserError
from translate.files import safe_load


def _metrics(run: Path) -> list[dict]:
    with open(run / run_folder.METRICS, newline="") as fh:
        return [{k: v for k, v in row.items() if k != "images_per_s"} for row in csv.DictReader(fh)]


def test_a_run_killed_before_its_first_checkpoint_starts_again_from_step_0(paired_dir, tmp_path, monkeypatch, caplog):
    cfg = tiny_paired_config(paired_dir, tmp_path / "runs", steps=4, checkpoint_every=3, sample_every=50)
    straight = api.fit(cfg, progress=False)
    original = Trainer.train_step

    def killed(self, batch):
        if self.step == 2:  # two metrics rows logged, no checkpoint yet
            raise RuntimeError("killed")
        return original(self, batch)

    monkeypatch.setattr(Trainer, "train_step", killed)
    with pytest.raises(RuntimeError, match="killed"):
        api.fit(cfg, progress=False)
    monkeypatch.setattr(Trainer, "train_step", original)
    run = tmp_path / "runs" / "t-2"
    assert not list((run / run_folder.CHECKPOINTS).iterdir()) and len(_metrics(run)) == 2
    with caplog.at_level("INFO", logger="translate"):
        out = api.resume(run, progress=False)
    assert "no checkpoint to resume from" in caplog.text and "from step 0 with its config.yaml" in caplog.text
    assert (out["run_dir"], out["step"], out["steps_run"]) == (run, 4, 4)
    assert _metrics(run) == _metrics(straight["run_dir"])  # the killed attempt's rows were replaced
    a, b = (safe_load(r / run_folder.WEIGHTS)["state"] for r in (straight["run_dir"], run))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_run_killed_before_its_config_was_saved_has_nothing_to_resume(tmp_path):
    run = run_folder.new_run_dir(tmp_path / "runs", "t")  # all a kill at that moment leaves
    with pytest.raises(UserError) as err:
        api.resume(run)
    message = str(err.value)
    assert "stopped before it saved its config.yaml" in message and "start a new run" in message
    assert "\n" not in message

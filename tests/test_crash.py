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


def test_a_truncated_last_checkpoint_falls_back_to_previous_and_ends_as_a_straight_run(paired_dir, tmp_path, monkeypatch, caplog):
    cfg = tiny_paired_config(paired_dir, tmp_path / "runs", steps=6, checkpoint_every=2, sample_every=50, ema=0.9)
    straight = api.fit(cfg, progress=False)
    original = Trainer.train_step

    def killed(self, batch):
        if self.step == 5:  # last.pt is step 4, previous.pt step 2
            raise RuntimeError("power loss")
        return original(self, batch)

    monkeypatch.setattr(Trainer, "train_step", killed)
    with pytest.raises(RuntimeError, match="power loss"):
        api.fit(cfg, progress=False)
    monkeypatch.setattr(Trainer, "train_step", original)
    run = tmp_path / "runs" / "t-2"
    ckpt = run / run_folder.CHECKPOINTS
    last = ckpt / run_folder.LAST
    last.write_bytes(last.read_bytes()[: last.stat().st_size // 2])  # the disk kept half of it
    stale = [ckpt / "..last.pt.k1ll3d_x.tmp", ckpt / run_folder.STAGED, run / ".generator.abcdefgh.tmp"]
    for path in stale:  # what a process killed mid-write leaves
        path.write_bytes(b"partial")
    with caplog.at_level("INFO", logger="translate"):
        out = api.resume(run, progress=False)
    assert "last.pt: cannot load" in caplog.text and "resuming from" in caplog.text and "previous.pt (step 2) instead" in caplog.text
    assert "removed 3 temporary files" in caplog.text and not any(p.exists() for p in stale)
    assert (out["step"], out["steps_run"]) == (6, 4)
    a, b = (safe_load(r / run_folder.WEIGHTS)["state"] for r in (straight["run_dir"], run))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert _metrics(run) == _metrics(straight["run_dir"])

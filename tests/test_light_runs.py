"""Disk: the run summary says what a checkpoint holds and its size, --no-keep-previous keeps one full state,
and the demo's run folder stays small."""

from __future__ import annotations

import dataclasses

from conftest import tiny_paired_config
from translate import api
from translate.cli import app
from translate.engine import run_folder

TINY = ["--steps", "2", "--load-size", "32", "--crop-size", "32", "--ngf", "4", "--ndf", "4", "--device", "cpu"]


def test_no_keep_previous_keeps_one_full_state_and_the_summary_says_what_it_holds(runner, paired_dir, tmp_path):
    result = runner.invoke(app, ["fit", "--paired", str(paired_dir), "--runs-dir", str(tmp_path / "runs"), "--checkpoint-every", "1",
                                 "--no-keep-previous", *TINY])
    assert result.exit_code == 0, result.output
    ckpt = tmp_path / "runs" / "pix2pix" / "checkpoints"
    assert sorted(p.name for p in ckpt.iterdir()) == ["last.pt"]
    parts = run_folder.checkpoint_parts(ckpt / "last.pt")
    assert 1.9 * parts["weights"] < parts["optimizers"] < 2 * parts["weights"]  # Adam's two moments of every parameter
    line = next(ln for ln in result.output.splitlines() if ln.startswith("checkpoint: "))
    assert line == (f"checkpoint: {ckpt / 'last.pt'} ({(ckpt / 'last.pt').stat().st_size / 1e6:.3g} MB: weights "
                    f"{parts['weights'] / 1e6:.3g} MB, optimizers {parts['optimizers'] / 1e6:.3g} MB, ema {parts['ema'] / 1e6:.3g} MB; "
                    "all a resume needs; the only one kept, --no-keep-previous)")
    result = runner.invoke(app, ["fit", "--resume", str(ckpt.parent), "--steps", "4", "--keep-previous"])
    assert result.exit_code == 0, result.output
    assert "previous.pt holds the one before)" in result.output and (ckpt / "previous.pt").is_file()


def test_the_crash_safe_pair_is_the_default(paired_dir, tmp_path):
    cfg = tiny_paired_config(paired_dir, tmp_path / "runs", steps=3, checkpoint_every=1)
    assert cfg.train.keep_previous and not cfg.train.best_state
    run = api.fit(dataclasses.replace(cfg), progress=False)["run_dir"]
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["last.pt", "previous.pt"]


def test_the_demo_run_folder_is_under_250_mb(tmp_path):
    from translate.demo import run_demo

    result = run_demo(tmp_path / "runs", steps=2, device="cpu", progress=False)
    run = result["run_dir"]
    size = sum(p.stat().st_size for p in run.rglob("*") if p.is_file())
    assert size < 250e6, size
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["last.pt"]

"""scripts/gpu_check.py: its CPU mode runs every check at tiny sizes and names every registered model, so the
command prepared for the first GPU machine does not rot; and its watch for host syncs sees a sync."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch
from conftest import ROOT, load_script

from translate.engine.trainer import Trainer
from translate.registry import list_models

check = load_script("scripts/gpu_check.py")


@pytest.mark.slow
def test_tiny_cpu_mode_names_every_model_and_passes_or_says_why_not(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "gpu_check.py"), "--device", "cpu", "--tiny",
                           "--work", str(tmp_path)], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert lines[0].startswith("CPU: ") and "tiny mode" in lines[1], lines[:2]
    start = lines.index("| check | status | s | peak MB | figure |")
    rows = [ln.strip("| ").split(" | ") for ln in lines[start + 2:] if ln.startswith("| ")]
    names = [r[0] for r in rows]
    for model in list_models():
        for precision in ("fp32", "bf16", "fp16"):
            assert f"train {model} {precision}" in names, (model, precision)
    for name, status, *_ in rows:
        kind, _, reason = status.partition(": ")
        assert kind == "ok" and not reason or kind == "skipped" and reason or kind == "known" and name in check.KNOWN, (name, status)
    trained = [r for r in rows if r[0].startswith("train ")]
    assert all(r[4].endswith(": bit-exact") for r in trained), [r for r in trained if not r[4].endswith(": bit-exact")]
    assert {"host syncs: pix2pix steady iterations", "--compile", "torchrun 1 process", "convert", "convert --compile", "evaluate (FID)",
            "export (ONNX)", "throughput pix2pix", "throughput cyclegan"} <= set(names)


def test_the_host_sync_watch_counts_a_read_in_a_steady_step(monkeypatch, tmp_path):
    def reads_a_loss(self, batch):
        return {"G": torch.ones(1) * float(torch.ones(1).sum().item())}

    monkeypatch.setattr(Trainer, "train_step", reads_a_loss)
    mode = check.Mode(torch.device("cpu"), True, 4, tmp_path)
    trainer = Trainer.__new__(Trainer)
    with check.host_syncs(mode) as reads:
        trainer.step = 0
        Trainer.train_step(trainer, {})  # the first step builds state: not watched
        trainer.step = 1
        Trainer.train_step(trainer, {})
    assert reads == ["item"]
    assert Trainer.train_step is reads_a_loss  # the watch is taken off


def test_a_known_failure_that_passes_fails_the_check(tmp_path, monkeypatch):
    checks = check.Checks(check.Mode(torch.device("cpu"), True, 4, tmp_path), tmp_path / "log")
    known = "a check that failed"
    monkeypatch.setitem(check.KNOWN, known, "it failed")
    checks.run(known, lambda: "fine")
    checks.run("a check", lambda: (_ for _ in ()).throw(check.Skip("not here")))
    assert [(r.status, r.reason.split(":")[0]) for r in checks.rows] == [("FAIL", "passes now (was known"), ("skipped", "not here")]
    assert checks.failed

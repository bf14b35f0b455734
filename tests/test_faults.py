"""Faults during a run: NaN/Inf values roll back or stop, a full disk keeps the previous files, out of memory
names the flags that need less. Each fault is injected; the runs are tiny."""

from __future__ import annotations

import csv
import errno
import os
import re
import tempfile

import pytest
import torch

from conftest import tiny_paired_config
from translate import api
from translate.cli import app
from translate.config import Config, TrainConfig, validate
from translate.engine.trainer import Trainer
from translate.errors import ArgumentError, DiskFullError, DivergedError, _amount
from translate.files import safe_load
from translate.models.pix2pix import Pix2Pix


def one_line_error(result, code):
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    errors = [ln for ln in result.output.splitlines() if ln.startswith("error: ")]
    assert len(errors) == 1, result.output
    return errors[0]


def _fit_args(paired_dir, runs, *more):
    return ["fit", "--paired", str(paired_dir), "--runs-dir", str(runs), "--name", "t", "--load-size", "72", "--crop-size", "64",
            "--ngf", "4", "--ndf", "4", "--log-every", "1", "--sample-every", "3", "--checkpoint-every", "3", *more]


# -- disk full ----------------------------------------------------------------------------------------


def fill_the_disk(monkeypatch, part: str, nth: int = 1, watch=None) -> dict:
    """The ``nth`` temporary file whose name holds ``part`` meets a full disk (ENOSPC) when it is flushed to
    disk. Returns a dict that gets the bytes ``watch`` held at that moment (``before``)."""
    real_mkstemp, real_fsync = tempfile.mkstemp, os.fsync
    seen, doomed, found = [], set(), {}

    def mkstemp(*args, **kwargs):
        fd, path = real_mkstemp(*args, **kwargs)
        if part in os.path.basename(path):
            seen.append(path)
            if len(seen) == nth:
                doomed.add(fd)
        return fd, path

    def fsync(fd):
        if fd in doomed:
            doomed.discard(fd)
            if watch is not None and watch.exists():
                found["before"] = watch.read_bytes()
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_fsync(fd)

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    monkeypatch.setattr(os, "fsync", fsync)
    return found


DISK_FULL = r"no space left on the disk: writing it needs at least ([\d.]+ (?:bytes|kB|MB|GB)) and [\d.]+ \w+ is free there"


def test_a_full_disk_during_a_checkpoint_keeps_last_pt_and_says_how_much_is_needed(paired_dir, tmp_path, monkeypatch, runner):
    last = tmp_path / "runs" / "t" / "checkpoints" / "last.pt"
    found = fill_the_disk(monkeypatch, "last.pt", nth=2, watch=last)  # the checkpoint of step 6, after step 3's
    result = runner.invoke(app, _fit_args(paired_dir, tmp_path / "runs", "--steps", "6"))
    line = one_line_error(result, 1)
    match = re.fullmatch(rf"error: {re.escape(str(last))}: {DISK_FULL}; the previous last.pt is unchanged; free some space "
                         r"and run again", line)
    assert match, line
    assert match.group(1) == _amount(len(found["before"]))  # a state of step 6 is as large as that of step 3
    assert last.read_bytes() == found["before"] and safe_load(last)["step"] == 3
    assert not list(last.parent.glob(".*")) and [p.name for p in last.parent.iterdir()] == ["last.pt"]


def test_a_full_disk_during_a_sample_grid_keeps_the_earlier_files(paired_dir, tmp_path, monkeypatch):
    fill_the_disk(monkeypatch, "step_00000006")
    with pytest.raises(DiskFullError, match=rf"samples/step_00000006.png: {DISK_FULL}; free some space") as err:
        api.fit(tiny_paired_config(paired_dir, tmp_path / "runs", steps=6), progress=False)
    run = tmp_path / "runs" / "t"
    assert err.value.needed > 100 and err.value.path == run / "samples" / "step_00000006.png"
    assert sorted(p.name for p in (run / "samples").glob("*.png")) == ["step_00000003.png"]
    assert safe_load(run / "checkpoints" / "last.pt")["step"] == 3
    assert not [p for p in run.rglob(".*") if p.is_file()], "temporary files left behind"


def test_a_full_disk_during_convert_keeps_the_previous_output(paired_dir, tmp_path, monkeypatch, runner):
    run = api.fit(tiny_paired_config(paired_dir, tmp_path / "runs", steps=1), progress=False)["run_dir"]
    out = tmp_path / "out"
    convert = ["convert", str(run), str(paired_dir), str(out), "--ab", "left", "--device", "cpu"]
    assert runner.invoke(app, convert).exit_code == 0
    before = (out / "0001.png").read_bytes()
    fill_the_disk(monkeypatch, "0001")
    line = one_line_error(runner.invoke(app, [*convert, "--overwrite"]), 1)
    assert line == (f"error: {out / '0001.png'}: no space left on the disk: writing it needs at least {_amount(len(before))} "
                    f"and {line.split(' and ')[1].split(' is free')[0]} is free there; the previous 0001.png is unchanged; "
                    "free some space and run again")
    assert (out / "0001.png").read_bytes() == before and not list(out.glob(".*"))

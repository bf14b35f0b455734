"""Crash safety: a process killed at any moment (SIGKILL, power loss) loses nothing that a resume or a rerun
cannot redo exactly. The kill tests run the command line in subprocesses and kill them for real."""

from __future__ import annotations

import csv
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from PIL import Image

from conftest import fit_killed_at, tiny_paired_config
from translate import api
from translate.cli import app
from translate.data.synthetic import make_paired
from translate.engine import run_folder
from translate.errors import UserError
from translate.files import safe_load

ROOT = Path(__file__).resolve().parents[1]
KILLS = 10  # SIGKILLs in the training test, each followed by a resume
STEPS = 24
TRAIN = ["--image-size", "64", "--ngf", "4", "--ndf", "4", "--batch-size", "2", "--steps", STEPS, "--checkpoint-every", 1,
         "--log-every", 1, "--sample-every", 1000, "--device", "cpu", "--workers", 0, "--threads", 1, "--seed", 3]
POLL_S = 0.0005
WAIT_S = 120  # the most any one process may take


def _env() -> dict:
    """The environment with this checkout first on the import path (a subprocess imports the same package)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    return env


def _start(log: Path, *args) -> subprocess.Popen:
    with open(log, "ab") as out:
        return subprocess.Popen([sys.executable, "-m", "translate", *map(str, args)], env=_env(), stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def _finish(proc: subprocess.Popen, log: Path) -> None:
    try:
        rc = proc.wait(timeout=WAIT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=30)
        raise AssertionError(f"{proc.args} took over {WAIT_S} s:\n{log.read_text()[-3000:]}") from None
    assert rc == 0, f"{proc.args} exited with {rc}:\n{log.read_text()[-3000:]}"


def _hidden(folder: Path) -> list[str]:
    """Names starting with '.' in ``folder``: temporary files of atomic writes, the staged checkpoint."""
    try:
        return [n for n in os.listdir(folder) if n.startswith(".")]
    except FileNotFoundError:
        return []


def _inode(path: Path) -> int | None:
    try:
        return path.stat().st_ino
    except FileNotFoundError:
        return None


def _kill_at(proc: subprocess.Popen, run: Path, trigger: tuple[str, float], log: Path) -> bool:
    """SIGKILL ``proc`` at the moment ``trigger`` names, watching the run folder once training has started
    (config.yaml saved): ("write", n) as soon as its n-th checkpoint write is seen under way, ("saved", n) as
    soon as its n-th new last.pt is in place, ("delay", s) s seconds in. False when the process ended first."""
    kind, n = trigger
    ckpt, config, launched = run / run_folder.CHECKPOINTS, run / run_folder.CONFIG, time.time_ns()
    deadline = time.monotonic() + WAIT_S
    started = None
    while proc.poll() is None:
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"{proc.args} took over {WAIT_S} s:\n{log.read_text()[-3000:]}")
        if started is None:  # starting up (imports, data, model): nothing to watch yet
            if config.exists() and config.stat().st_mtime_ns >= launched:
                started, seen, writing, last = time.monotonic(), 0, bool(_hidden(ckpt)), _inode(ckpt / run_folder.LAST)
            else:
                time.sleep(0.01)
                continue
        if kind == "write":
            now = bool(_hidden(ckpt))
            seen += now and not writing
            writing = now
        elif kind == "saved":
            ino = _inode(ckpt / run_folder.LAST)
            seen += ino not in (None, last)
            last = ino or last
        if (seen >= n) if kind != "delay" else (time.monotonic() - started >= n):
            proc.kill()
            proc.wait(timeout=30)
            return True
        time.sleep(POLL_S)
    return False


def _same_weights(run: Path, other: Path) -> bool:
    """generator.pt of the two runs holds the same tensors, bit for bit."""
    a, b = (safe_load(r / run_folder.WEIGHTS)["state"] for r in (run, other))
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _metrics(run: Path) -> list[dict]:
    with open(run / run_folder.METRICS, newline="") as fh:
        return [{k: v for k, v in row.items() if k not in ("images_per_s", "data_wait")} for row in csv.DictReader(fh)]


def test_sigkill_at_random_moments_then_resume_gives_the_straight_runs_weights_bit_for_bit(tmp_path):
    """``translate fit`` is killed KILLS times at moments drawn from a seeded generator (inside checkpoint
    writes, just after them, at random delays) and resumed each time with ``--resume``; a run that reaches
    its end first is followed by a new one. Every run ends with the uninterrupted run's weights and metrics."""
    data = make_paired(tmp_path / "data", n=8, size=64)
    runs = tmp_path / "runs"
    straight_log = tmp_path / "straight.log"  # the uninterrupted run, beside the first killed one
    straight_proc = _start(straight_log, "fit", "--paired", data, *TRAIN, "--runs-dir", runs, "--name", "straight")
    straight = runs / "straight"

    rng = random.Random(20240601)
    kills, in_write, done, current, attempts = 0, 0, [], None, 0
    while kills < KILLS:
        attempts += 1
        assert attempts <= 3 * KILLS, f"only {kills} kills in {attempts - 1} attempts"
        kind = rng.choice(["write", "write", "saved", "delay"])
        trigger = (kind, rng.uniform(0.0, 0.3) if kind == "delay" else rng.randint(1, 3))
        if current is None:  # a new run
            current = runs / f"killed{len(done) + 1}"
            log = tmp_path / f"{current.name}.log"
            proc = _start(log, "fit", "--paired", data, *TRAIN, "--runs-dir", runs, "--name", current.name)
        else:
            proc = _start(log, "fit", "--resume", current)
        if _kill_at(proc, current, trigger, log):
            kills += 1
            in_write += bool(_hidden(current / run_folder.CHECKPOINTS))
        else:
            _finish(proc, log)  # it ran to the end before the moment came
            done.append(current)
            current = None
    if current is not None:
        _finish(_start(log, "fit", "--resume", current), log)
        done.append(current)
    _finish(straight_proc, straight_log)

    matched = 0
    for run in done:
        matched += _same_weights(run, straight)
        assert _metrics(run) == _metrics(straight), f"{run}: metrics.csv differs from the straight run's"
        assert [int(r["step"]) for r in _metrics(run)] == list(range(1, STEPS + 1))
        assert sorted(os.listdir(run / run_folder.CHECKPOINTS)) == [run_folder.LAST, run_folder.PREVIOUS]
        assert not list(run.rglob(".*")), "a temporary file was left behind"
    print(f"\n{kills} kills ({in_write} inside a checkpoint write) in {len(done)} runs; {matched} of {len(done)} "
          f"resumed runs equal the straight run bit for bit")
    assert matched == len(done)


def test_a_run_killed_before_its_first_checkpoint_starts_again_from_step_0(paired_dir, tmp_path, monkeypatch, caplog):
    cfg = tiny_paired_config(paired_dir, tmp_path / "runs", steps=4, checkpoint_every=3, sample_every=50)
    straight = api.fit(cfg, progress=False)
    run = fit_killed_at(cfg, 2, monkeypatch)  # two metrics rows logged, no checkpoint yet
    assert not list((run / run_folder.CHECKPOINTS).iterdir()) and len(_metrics(run)) == 2
    with caplog.at_level("INFO", logger="translate"):
        out = api.resume(run, progress=False)
    assert "no checkpoint to resume from" in caplog.text and "from step 0 with its config.yaml" in caplog.text
    assert (out["run_dir"], out["step"], out["steps_run"]) == (run, 4, 4)
    assert _metrics(run) == _metrics(straight["run_dir"])  # the killed attempt's rows were replaced
    assert _same_weights(run, straight["run_dir"])


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
    run = fit_killed_at(cfg, 5, monkeypatch, "power loss")  # last.pt is step 4, previous.pt step 2
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
    assert _same_weights(run, straight["run_dir"])
    assert _metrics(run) == _metrics(straight["run_dir"])


def test_killing_convert_and_rerunning_writes_every_output_exactly_once(paired_dir, tmp_path, runner):
    run = api.fit(tiny_paired_config(paired_dir, tmp_path / "runs", steps=1), progress=False)["run_dir"]
    inputs = make_paired(tmp_path / "in", n=30, size=128, seed=1)
    out = tmp_path / "out"
    names = sorted(p.with_suffix(".png").name for p in inputs.iterdir())
    log = tmp_path / "convert.log"
    args = ["convert", run, inputs, out, "--ab", "left", "--batch-size", 1, "--device", "cpu"]
    proc = _start(log, *args)
    deadline = time.monotonic() + WAIT_S
    while proc.poll() is None and time.monotonic() < deadline:  # kill inside a write once a few outputs exist
        written = [n for n in _hidden(out) if n.endswith(".tmp")]
        if len(list(out.glob("*.png"))) >= 10 or written and len(list(out.glob("*.png"))) >= 3:
            break
        time.sleep(POLL_S)
    proc.kill()
    proc.wait(timeout=30)
    before = sorted(p.name for p in out.glob("*.png"))
    assert 0 < len(before) < len(names), f"the kill did not land mid-way ({len(before)} outputs):\n{log.read_text()[-3000:]}"
    leftover = out / ".0029.abcdefgh.tmp"  # a killed write's temporary file, whether or not this kill left one
    leftover.write_bytes(b"\x89PNG partial")
    unrelated = out / ".notes.abcdefgh.tmp"  # not the temporary file of an output: kept
    unrelated.write_bytes(b"mine")

    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    assert f"converted {len(names) - len(before)} images" in result.output and f"skipped {len(before)} existing" in result.output
    assert sorted(os.listdir(out)) == sorted([unrelated.name] + names)  # each output once, no temporary files
    for name in names:
        with Image.open(out / name) as img:
            img.load()
            assert (img.format, img.size) == ("PNG", (128, 128))

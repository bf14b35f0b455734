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

from conftest import count_host_reads, one_line_error, tiny_paired_config
from translate import api
from translate.cli import app
from translate.config import Config, TrainConfig, validate
from translate.engine.trainer import Trainer
from translate.errors import ArgumentError, DiskFullError, DivergedError, _amount
from translate.files import safe_load
from translate.models.pix2pix import Pix2Pix



def _fit_args(paired_dir, runs, *more):
    return ["fit", "--paired", str(paired_dir), "--runs-dir", str(runs), "--name", "t", "--load-size", "72", "--crop-size", "64",
            "--ngf", "4", "--ndf", "4", "--log-every", "1", "--sample-every", "3", "--checkpoint-every", "3", *more]


def nan_at(monkeypatch, *calls):
    """Pix2Pix's generator loss G_GAN is NaN on these calls of its generator step (1-based): one per step."""
    original, seen = Pix2Pix.generator_step, []

    def step(self, batch, fakes):
        out = original(self, batch, fakes)
        seen.append(1)
        if len(seen) in calls or "always" in calls:
            out["G_GAN"] = out["G_GAN"] * float("nan")
            out["total"] = out["total"] + out["G_GAN"]
        return out

    monkeypatch.setattr(Pix2Pix, "generator_step", step)


def _lr_by_step(run_dir):
    with open(run_dir / "metrics.csv") as fh:
        return {int(r["step"]): float(r["lr"]) for r in csv.DictReader(fh)}


def _finite(state: dict) -> bool:
    return all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())


# -- NaN and Inf --------------------------------------------------------------------------------------


def test_a_nan_loss_rolls_back_to_the_last_checkpoint_with_half_the_learning_rate(paired_dir, tmp_path, monkeypatch, caplog):
    nan_at(monkeypatch, 5)
    cfg = tiny_paired_config(paired_dir, tmp_path / "runs", steps=8, log_every=2, checkpoint_every=3)
    with caplog.at_level("INFO", logger="translate"):
        out = api.fit(cfg, progress=False)
    line = ("loss G, loss G_GAN, gradients of G are not finite at step 5; rolled back to step 3 with the learning rate "
            "scaled by 0.5 (rollback 1 of 3)")
    assert line in caplog.text and line in (out["run_dir"] / "log.txt").read_text()
    assert out["step"] == 8 and not out["stopped"]
    last = safe_load(out["checkpoint"])
    assert last["lr_scale"] == 0.5 and _finite(last["model"])
    assert _lr_by_step(out["run_dir"]) == {2: 2e-4, 4: 1e-4, 6: 1e-4, 8: 1e-4}  # the row of step 4 was run again
    monkeypatch.undo()
    more = api.resume(out["run_dir"], {"steps": 10}, progress=False)  # a resume keeps the lowered rate
    assert more["step"] == 10 and _lr_by_step(out["run_dir"])[10] == 1e-4


def test_a_fault_before_the_first_checkpoint_goes_back_to_the_start(paired_dir, tmp_path, monkeypatch, caplog):
    nan_at(monkeypatch, 2)
    cfg = tiny_paired_config(paired_dir, tmp_path / "runs", steps=4, checkpoint_every=50, sample_every=50)
    with caplog.at_level("INFO", logger="translate"):
        out = api.fit(cfg, progress=False)
    assert "not finite at step 2; rolled back to step 0 with the learning rate scaled by 0.5 (rollback 1 of 3)" in caplog.text
    assert out["step"] == 4 and _finite(safe_load(out["checkpoint"])["model"])
    assert list(_lr_by_step(out["run_dir"])) == [1, 2, 3, 4]


def test_a_run_that_keeps_diverging_stops_after_its_retries(paired_dir, tmp_path, monkeypatch, caplog):
    nan_at(monkeypatch, "always")
    cfg = tiny_paired_config(paired_dir, tmp_path / "runs", steps=6, nan_retries=2, precision="bf16")
    with caplog.at_level("INFO", logger="translate"), pytest.raises(DivergedError) as err:
        api.fit(cfg, progress=False)
    assert caplog.text.count("rolled back to step 0") == 2
    assert str(err.value) == ("loss G, loss G_GAN, gradients of G are not finite at step 1; stopped (after 2 rollbacks, "
                              "nan_retries 2); no checkpoint was written; try a lower lr or precision fp32")
    assert not (tmp_path / "runs" / "t" / "checkpoints" / "last.pt").exists()


def test_on_nan_stop_exits_1_with_one_line_and_keeps_the_last_good_checkpoint(paired_dir, tmp_path, monkeypatch, runner):
    nan_at(monkeypatch, 5)
    result = runner.invoke(app, _fit_args(paired_dir, tmp_path / "runs", "--steps", "8", "--on-nan", "stop"))
    assert one_line_error(result, 1) == ("error: loss G, loss G_GAN, gradients of G are not finite at step 5; stopped "
                                         "(--on-nan stop); checkpoints/last.pt holds step 3; try a lower --lr")
    ckpt = tmp_path / "runs" / "t" / "checkpoints"
    last = safe_load(ckpt / "last.pt")
    assert last["step"] == 3 and _finite(last["model"]) and not list(ckpt.glob(".*"))


def test_on_nan_and_nan_retries_are_checked():
    with pytest.raises(ArgumentError, match="on_nan must be one of rollback, stop, not 'maybe'") as err:
        validate(Config(train=TrainConfig(on_nan="maybe")))
    assert err.value.names == ("on_nan",)
    with pytest.raises(ArgumentError, match="nan_retries must be 0 or more"):
        validate(Config(train=TrainConfig(nan_retries=-1)))


def _defaults_config(name: str, data, runs, **train):
    """``name`` at its own defaults (EMA, schedule, inference mode, norms, pool), only its sizes and the run's
    length changed."""
    layout = "paired" if name == "pix2pix" else "unpaired"
    return api.resolve_config({"model": name, "model_opts": {"ngf": 8, "ndf": 8},
                               "data": {"layout": layout, "root": str(data), "load_size": 36, "crop_size": 32},
                               "train": {"steps": 4, "log_every": 4, "sample_every": 1000, "checkpoint_every": 1000,
                                         "batch_size": 2, "num_samples": 2, "device": "cpu", **train},
                               "run": {"runs_dir": str(runs)}})


@pytest.mark.parametrize("name", ["pix2pix", "cyclegan"])
def test_no_host_sync_in_a_steady_step_at_the_defaults(name, paired_dir, tmp_path, monkeypatch):
    """A training step at the model's defaults (pix2pix: the EMA on) reads nothing back to the host: the losses and
    gradient norms are watched on the device, and only the checks read them. (CycleGAN's history pool draws its
    swaps on the host's RNG, a CPU tensor, with no wait for the device; with its 50 slots it is still filling here.)
    The EMA update's own reads are the next test's."""
    from translate.data.synthetic import make_unpaired

    data = paired_dir if name == "pix2pix" else make_unpaired(tmp_path / "unpaired", n=4, size=40)
    cfg = _defaults_config(name, data, tmp_path / "runs")
    assert (cfg.train.ema > 0) == (name == "pix2pix")
    where: dict = {}
    reads = count_host_reads(monkeypatch, where)
    out = api.fit(cfg, progress=False)
    assert out["step"] == 4
    assert [r for r, in_ema in reads if not in_ema] == []


def test_no_host_sync_in_the_ema_update_at_the_defaults(monkeypatch):
    """pix2pix's default EMA updates without reading anything back to the host."""
    from conftest import make_batch, tiny_info

    from translate.registry import create_model

    cfg = api.resolve_config({"model": "pix2pix", "model_opts": {"ngf": 8, "ndf": 8}, "train": {"batch_size": 2, "device": "cpu"}})
    assert cfg.train.ema == 0.999
    model = create_model("pix2pix", tiny_info("pix2pix"), cfg.model_opts)
    trainer = Trainer.for_step(cfg, model, torch.device("cpu"))
    where: dict = {}
    reads = count_host_reads(monkeypatch, where)
    for i in range(8):
        trainer.iteration(make_batch("pix2pix", model.info, n=2, seed=i))
    assert trainer.ema.updates == 8 // cfg.train.ema_every >= 2
    assert [r for r, in_ema in reads if in_ema] == []


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


# -- out of memory ------------------------------------------------------------------------------------

CUDA_OOM = "CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of 79.10 GiB of which 1.2 GiB is free."


def test_out_of_memory_in_training_names_the_flags_that_need_less(paired_dir, tmp_path, monkeypatch, runner):
    original = Trainer.train_step

    def step(self, batch):
        if self.step == 1:
            raise torch.OutOfMemoryError(CUDA_OOM)
        return original(self, batch)

    monkeypatch.setattr(Trainer, "train_step", step)
    line = one_line_error(runner.invoke(app, _fit_args(paired_dir, tmp_path / "runs", "--steps", "4", "--device", "cpu")), 1)
    assert line == ("error: out of memory on cpu at step 2 (tried to allocate 2.00 GiB); use a smaller --batch-size (now 1) or "
                    "--crop-size (now 64), or --precision bf16 or fp16 (now fp32)")


def test_out_of_memory_in_convert_names_the_flags_that_need_less(paired_dir, tmp_path, monkeypatch, runner):
    run = api.fit(tiny_paired_config(paired_dir, tmp_path / "runs", steps=1), progress=False)["run_dir"]

    def translate(self, x, direction=None):
        raise torch.OutOfMemoryError(CUDA_OOM)

    monkeypatch.setattr(Pix2Pix, "translate", translate)
    convert = ["convert", str(run), str(paired_dir), str(tmp_path / "out"), "--ab", "left", "--batch-size", "2", "--device", "cpu"]
    assert one_line_error(runner.invoke(app, convert), 1) == (
        "error: out of memory on cpu converting 0000.png (64x64, 2 at a time); use a smaller --batch-size or convert in "
        "smaller tiles with --tile (now: whole images)")
    assert one_line_error(runner.invoke(app, [*convert, "--tile", "48", "--overlap", "8"]), 1).endswith("--tile (now: 48)")

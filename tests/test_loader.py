"""Batches read ahead of the step (loader processes or a thread), the data-wait share in metrics.csv,
compiled networks, and the note on emulated bf16."""

from __future__ import annotations

import csv
import functools
import threading
import time
import warnings

import pytest
import torch

from conftest import tiny_paired_config
from translate import api
from translate.cli import message
from translate.config import DataConfig
from translate.data import build_dataset
from translate.data.datasets import ResumableBatchSampler
from translate.data.loader import ReadAhead, batch_loader, read_batches
from translate.engine import hardware, run_folder
from translate.engine.scalars import ScalarLogger
from translate.engine.distributed import Distributed
from translate.engine.trainer import Trainer
from translate.errors import ArgumentWarning
from translate.files import safe_load


def _batches(dataset, workers: int, depth: int, start: int, count: int) -> list[dict]:
    sampler = ResumableBatchSampler(len(dataset), 2, seed=5, start=start)
    with read_batches(batch_loader(dataset, sampler, workers, "cpu", seed=5), depth) as batches:
        return [next(batches) for _ in range(count)]


def test_batches_are_identical_with_0_or_2_workers_or_a_read_ahead_thread_across_an_epoch(paired_dir):
    """8 pairs in batches of 2: 4 iterations an epoch; from iteration 2, five batches cross into epoch 1.
    Random crops (72 -> 64) and flips are on, so any drift in keys or seeds shows in the pixels."""
    dataset = build_dataset(DataConfig(root=str(paired_dir), load_size=72, crop_size=64), "paired", "pix2pix", seed=5)
    plain = _batches(dataset, workers=0, depth=0, start=2, count=5)
    assert plain[0]["A"].shape == (2, 3, 64, 64)
    assert [b["path"] for b in plain[:2]] != [b["path"] for b in plain[2:4]]  # epoch 1 is another permutation
    for other in (_batches(dataset, workers=0, depth=2, start=2, count=5),
                  _batches(dataset, workers=2, depth=2, start=2, count=5)):
        assert [b["path"] for b in other] == [b["path"] for b in plain]
        for mine, theirs in zip(other, plain):
            assert torch.equal(mine["A"], theirs["A"]) and torch.equal(mine["B"], theirs["B"])


def test_read_ahead_holds_at_most_its_depth_raises_the_readers_error_here_and_stops_on_close():
    produced = []

    def source():
        for i in range(100):
            produced.append(i)
            if i == 6:
                raise ValueError("file 6 is unreadable")
            yield i

    reader = ReadAhead(source(), depth=2)
    deadline = time.monotonic() + 10
    while len(produced) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.1)
    assert produced == [0, 1, 2]  # two in the queue, the third waiting to be put
    assert [next(reader) for _ in range(6)] == [0, 1, 2, 3, 4, 5]
    with pytest.raises(ValueError, match="file 6 is unreadable"):
        next(reader)
    reader.close()
    assert not any(t.name == "read-ahead" and t.is_alive() for t in threading.enumerate())
    with ReadAhead(range(3), depth=1) as short:
        assert list(short) == [0, 1, 2]


def test_a_fit_reading_ahead_in_a_thread_equals_one_reading_in_the_step(paired_dir, tmp_path, monkeypatch):
    cfg = tiny_paired_config(paired_dir, tmp_path / "ahead", steps=3, sample_every=50, checkpoint_every=50)
    ahead = api.fit(cfg, progress=False)
    monkeypatch.setattr("translate.engine.trainer.read_batches", lambda loader: ReadAhead(loader, depth=0))
    inline = api.fit(tiny_paired_config(paired_dir, tmp_path / "inline", steps=3, sample_every=50, checkpoint_every=50),
                 progress=False)
    a, b = safe_load(ahead["checkpoint"])["model"], safe_load(inline["checkpoint"])["model"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_metrics_rows_hold_the_share_of_time_spent_waiting_for_data(paired_dir, tmp_path):
    out = api.fit(tiny_paired_config(paired_dir, tmp_path / "runs", steps=2, sample_every=50, checkpoint_every=50), progress=False)
    with open(out["run_dir"] / "metrics.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["step"] for r in rows] == ["1", "2"]
    assert all(0.0 <= float(r["data_wait"]) <= 1.0 for r in rows)
    trainer = Trainer.__new__(Trainer)  # the share itself: 2.5 s waited over the 10 s since the last row
    trainer.step, trainer.tc, trainer.sampler = 4, api.load_config(out["run_dir"]).train, ResumableBatchSampler(8, 1, 0)
    trainer.metrics, trainer.scalars = run_folder.MetricsLog(tmp_path / "m.csv"), ScalarLogger("none", tmp_path)
    trainer.plot_results, trainer.dist = lambda force=False: None, Distributed()
    row = trainer._log_row(2e-4, {}, {}, 4, time.perf_counter() - 10.0, waited=2.5)
    assert row["data_wait"] == pytest.approx(0.25, abs=1e-3) and row["images_per_s"] == pytest.approx(0.4, abs=1e-3)


def _eager_compile(monkeypatch):
    """torch.compile with the eager backend: dynamo traces the networks, no C++ code is generated (fast)."""
    monkeypatch.setattr(torch, "compile", functools.partial(torch.compile, backend="eager"))


def test_a_compiled_run_saves_the_plain_keys_and_the_same_weights(paired_dir, tmp_path, monkeypatch):
    plain = api.fit(tiny_paired_config(paired_dir, tmp_path / "plain", steps=1, sample_every=50, checkpoint_every=50), progress=False)
    _eager_compile(monkeypatch)
    compiled_nets = []
    original = hardware.compile_networks

    def spy(networks, device):
        networks = list(networks)
        done = original(networks, device)
        compiled_nets.extend(net for net in networks if net._compiled_call_impl is not None)
        return done

    monkeypatch.setattr("translate.engine.trainer.compile_networks", spy)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ArgumentWarning)
        compiled = api.fit(tiny_paired_config(paired_dir, tmp_path / "compiled", steps=1, sample_every=50, checkpoint_every=50,
                                              compile=True), progress=False)
    assert len(compiled_nets) == 2  # the U-Net and the PatchGAN
    a, b = safe_load(plain["checkpoint"])["model"], safe_load(compiled["checkpoint"])["model"]
    assert list(a) == list(b) and not any("_orig_mod" in k for k in b)
    assert all(torch.allclose(a[k].float(), b[k].float(), atol=1e-5) for k in a)
    assert list(safe_load(plain["weights"])["state"]) == list(safe_load(compiled["weights"])["state"])


def test_a_compiler_that_fails_gives_one_note_and_an_uncompiled_run(paired_dir, tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("Compiler: cc is not found\nmore detail")

    monkeypatch.setattr(torch, "compile", broken)
    with pytest.warns(ArgumentWarning) as caught:
        out = api.fit(tiny_paired_config(paired_dir, tmp_path / "runs", steps=1, compile=True), progress=False)
    notes = [w.message for w in caught if isinstance(w.message, ArgumentWarning)]
    assert [message(n) for n in notes] == ["--compile: torch.compile is not usable here (Compiler: cc is not found); "
                                           "training runs uncompiled"]
    assert out["step"] == 1


@pytest.mark.parametrize("flags, warned", [("fpu sse4_2 avx2 avx512f", True), ("avx2 avx512f avx512_bf16", False),
                                           ("avx2 amx_bf16 amx_tile", False), (None, False)])
def test_bf16_on_a_cpu_without_bf16_arithmetic_says_it_is_emulated(tmp_path, monkeypatch, flags, warned):
    info = tmp_path / "cpuinfo"
    if flags is not None:
        info.write_text(f"processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: {flags}\n\nprocessor\t: 1\nflags\t\t: {flags}\n")
    monkeypatch.setattr(hardware, "CPUINFO", info)
    assert hardware.cpu_flags() == frozenset((flags or "").split())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cfg = tiny_paired_config(tmp_path, tmp_path, precision="bf16", device="cpu")
        for precision, device in (("fp32", "cpu"), ("bf16", "meta")):
            assert not hardware.warn_emulated_bf16(torch.device(device), precision)
        Trainer.for_step(cfg, _tiny_pix2pix(), torch.device("cpu"))
    notes = [message(w.message) for w in caught if isinstance(w.message, ArgumentWarning)]
    assert notes == (["--precision bf16 is emulated on this CPU (it has neither AVX512-BF16 nor AMX), so it is slower "
                      "than fp32 here; use --precision fp32"] if warned else [])


def _tiny_pix2pix():
    from conftest import tiny_info, tiny_opts
    from translate.registry import create_model

    return create_model("pix2pix", tiny_info("pix2pix"), tiny_opts("pix2pix"))

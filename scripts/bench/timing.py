"""Timing: two-count per-iteration times of whole processes, the steady state from metrics.csv, peak memory of a
process tree, the machine (CPU model, ISA, measured FLOP/s peak) and the FLOPs of one training step."""

from __future__ import annotations

import csv
import functools
import itertools
import os
import subprocess
import sys
import time
from pathlib import Path

from bench.cases import Case

ROOT = Path(__file__).resolve().parents[2]


def per_iteration(n1: int, t1: float, n2: int, t2: float) -> float:
    """Seconds per iteration from two whole runs of ``n1`` and ``n2`` iterations: what they share (start-up,
    the final save) cancels in the difference."""
    if n2 <= n1:
        raise ValueError(f"the second count ({n2}) must be larger than the first ({n1})")
    return (t2 - t1) / (n2 - n1)


def steady_state(metrics_csv: Path, skip: int = 1) -> tuple[float, float | None]:
    """(images/s, data-wait share) over the rows of a run's metrics.csv after the first ``skip`` (warm-up):
    images/s weighted by the iterations of each row; the share is None where there is no ``data_wait``."""
    with open(metrics_csv, newline="") as f:
        rows = [r for r in csv.DictReader(f) if r.get("images_per_s")]
    if len(rows) <= skip:
        raise ValueError(f"{metrics_csv}: {len(rows)} rows, need more than {skip} (lower --log-every)")
    steps = [0] + [int(r["step"]) for r in rows]
    iters = [b - a for a, b in itertools.pairwise(steps)][skip:]
    kept = rows[skip:]
    seconds = [n / float(r["images_per_s"]) for n, r in zip(iters, kept)]
    ips = sum(iters) / sum(seconds)  # batch 1: iterations are images (times the batch otherwise: same ratio)
    if not kept[0].get("data_wait"):
        return ips, None
    wait = sum(float(r["data_wait"]) * s for r, s in zip(kept, seconds)) / sum(seconds)
    return ips, wait


def cpu_info(text: str) -> tuple[str, list[str]]:
    """The CPU model and the ISA extensions that matter here, from the text of /proc/cpuinfo."""
    model, flags = "unknown CPU", set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key in ("model name", "Model name") and model == "unknown CPU":
            model = value.strip()
        elif key in ("flags", "Features") and not flags:
            flags = set(value.split())
    names = [("avx2", "AVX2"), ("avx512f", "AVX-512F"), ("avx512_vnni", "AVX512-VNNI"), ("avx512_bf16", "AVX512-BF16"),
             ("amx_bf16", "AMX-BF16"), ("amx_int8", "AMX-INT8"), ("amx_tile", "AMX")]
    isa = [name for flag, name in names if flag in flags]
    if ("AMX-BF16" in isa or "AMX-INT8" in isa) and "AMX" in isa:
        isa.remove("AMX")
    return model, isa


def native_bf16(isa: list[str]) -> bool:
    return "AVX512-BF16" in isa or "AMX-BF16" in isa


def measure_peak(seconds: float = 2.0, device: str = "cpu") -> dict[str, float]:
    """FLOP/s of ``device``, fp32 and bf16: the better of a large convolution and a large matmul, each the
    best of its repeats over about ``seconds``."""
    import torch

    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    out = {}
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        x = torch.randn(4, 256, 64, 64, dtype=dtype, device=device)
        w = torch.randn(256, 256, 3, 3, dtype=dtype, device=device)
        a, b = (torch.randn(2048, 2048, dtype=dtype, device=device), torch.randn(2048, 2048, dtype=dtype, device=device))
        conv = (functools.partial(torch.nn.functional.conv2d, x, w, padding=1), 2 * 4 * 256 * 64 * 64 * 256 * 9)
        mm = (functools.partial(torch.matmul, a, b), 2 * 2048**3)
        best = 0.0
        with torch.no_grad():
            for fn, flops in (conv, mm):
                fn()  # warm-up: oneDNN's first call picks and builds its kernel
                sync()
                start = time.perf_counter()
                while time.perf_counter() - start < seconds / 2:
                    t0 = time.perf_counter()
                    fn()
                    sync()
                    best = max(best, flops / (time.perf_counter() - t0))
        out[name] = best
    return out


def step_flops(case: Case) -> float:
    """FLOPs of one training step of ``case`` (forward and backward of every network the step runs)."""
    import torch

    from translate.config import Config, TrainConfig
    from translate.data.synthetic import random_batch
    from translate.engine.trainer import Trainer, to_device
    from translate.registry import create_model, get_model_class
    from translate.types import DataInfo

    cls = get_model_class(case.model)
    info = DataInfo(size=case.crop)
    torch.manual_seed(0)
    model = create_model(case.model, info, {"net_g": case.net_g, **dict(case.options)})
    batch = random_batch(cls.task, info, 1)
    trainer = Trainer.for_step(Config(model=case.model, train=TrainConfig(device="cpu")), model, torch.device("cpu"), batch=batch)
    return count_step_flops(trainer, to_device(batch, torch.device("cpu"), False))


def count_step_flops(trainer, batch: dict) -> float:
    """FLOPs of one ``trainer.train_step(batch)``: forward and backward of every network it runs (the
    optimizers' element-wise updates are not counted)."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        trainer.train_step(batch)
    return float(counter.get_total_flops())



def _memory(pid: int, page: int) -> int:
    """Bytes process ``pid`` holds: its proportional set size (pages shared with other processes, such as
    those of forked loader workers, divided among them, so a tree's sum counts each page once), its
    resident set size where the kernel gives no PSS."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * page
    except (OSError, IndexError, ValueError):
        return 0


def tree_memory(pid: int) -> int:
    """Bytes held now by process ``pid`` and all its descendants (see ``_memory``), read from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    total, todo = 0, [pid]
    page = os.sysconf("SC_PAGE_SIZE")
    while todo:
        p = todo.pop()
        total += _memory(p, page)
        todo += children.get(p, [])
    return total


def timed(cmd: list[str], env: dict, cwd: Path, log: Path) -> tuple[float, float]:
    """Run ``cmd`` to its end: (wall seconds, peak MB held by its process tree, loader workers included,
    sampled every second; see ``tree_memory``). A failure raises with the tail of its output."""
    with open(log, "wb") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
        peak = 0
        while proc.poll() is None:
            peak = max(peak, tree_memory(proc.pid))
            try:
                proc.wait(1.0)  # a sample costs about 20 ms of CPU: 2% of a core
            except subprocess.TimeoutExpired:
                pass
        seconds = time.perf_counter() - t0
    if proc.returncode:
        raise RuntimeError(f"{' '.join(cmd[:4])} ... exited {proc.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
    return seconds, peak / 2**20



def ours_env() -> dict:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}


def fit_ours(case: Case, data: Path, work: Path, precision: str, iters: int, workers: int | None, device: str) -> tuple[float, float, Path]:
    name = f"{case.name}-{precision}-{iters}"
    cmd = [sys.executable, "-m", "translate", "fit", "--paired" if case.paired else "--unpaired", str(data),
           "--model", case.model, "--netG", case.net_g, "--load-size", str(case.load), "--crop-size", str(case.crop),
           "--batch-size", "1", "--steps", str(iters), "--precision", precision, "--device", "cpu",
           "--log-every", str(max(1, iters // 6)), "--runs-dir", str(work / "runs"), "--name", name,
           "--paper"]  # the official code's networks and losses (pix2pix's default D and loss cost 14% more per step)
    cmd += [word for key, value in case.options for word in (f"--{key}", str(value))]
    if workers is not None:
        cmd += ["--workers", str(workers)]
    seconds, peak = timed(cmd, ours_env(), work, work / f"{name}.log")
    return seconds, peak, work / "runs" / name



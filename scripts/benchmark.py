"""Training and inference speed of any registered model, printed as a table.

Step mode (the default) times the engine's own ``Trainer.train_step`` on random data, each configuration in
its own process, so the peak memory column is that configuration's own (CUDA: peak allocated; CPU: peak
resident set size of the process); the D step, the G step, optimizers and autocast included:

    python scripts/benchmark.py --model pix2pix --size 256 --batch-size 1 --precision fp32 bf16
    python scripts/benchmark.py --model pix2pix --size 128 --opt net_g=unet_128 --convert 16

End-to-end mode times what the user waits for: the real ``python -m translate fit`` as a whole process on
a folder of real-sized JPEGs (A|B 512x256 for paired cases, 256x256 trainA/trainB for unpaired ones,
smooth noise, texture and shapes at quality 90, generated in a temporary folder, or ``--data DIR``), at
two iteration counts: the difference of the wall times divided by the extra iterations is the time per
iteration, so start-up and the final save cancel out. Each row also gives the steady-state images/s from
the run's own metrics.csv (the first row excluded), the share of the iteration spent waiting for data
(metrics.csv column ``data_wait``, a fraction of the iteration; "-" where the engine does not log it), the
peak memory of the process tree (loader workers included: the sum of each process's proportional set
size, so pages forked workers share with their parent count once; sampled every second from /proc), and
the achieved FLOP/s (FLOPs of one training step counted with torch.utils.flop_counter, divided by the time
per iteration) as a % of the machine's peak measured in the same run with a large convolution and a large
matmul (fp32 peak for fp32 rows and the official code, bf16 for bf16 rows):

    python scripts/benchmark.py --end-to-end                       # pix2pix 256, fp32: about 2 minutes on 2 cores
    python scripts/benchmark.py --end-to-end --quick               # 32x32, 3 and 6 steps: about 30 s
    python scripts/benchmark.py --end-to-end --official OFFICIAL --cases p2p256 p2p128 cyc128 cyc256 \
        --precision fp32 bf16 --convert 64 --markdown              # the full table: about 20 minutes on a
                                                                   # quiet 2-core CPU (CycleGAN 256 half of it)

``--official DIR`` runs the official pix2pix/CycleGAN code (upstream commit 2a7afba) beside ours with the
same settings: its train.py (--n_epochs 1 --n_epochs_decay 0 --max_dataset_size N, so the iteration counts
match; --num_threads 4, its default) and, with ``--convert``, its test.py. DIR holds its .py files; to get
them, from any public mirror of junyanz/pytorch-CycleGAN-and-pix2pix that holds that commit (its archive of
the commit fails on a missing image, so take the files one by one):

    git clone --bare https://github.com/junyanz/pytorch-CycleGAN-and-pix2pix official.git
    cd official.git && for f in $(git ls-tree -r --name-only 2a7afba | grep '[.]py$'); do
        mkdir -p ../official/$(dirname $f) && git show 2a7afba:$f > ../official/$f; done

Its imports of ``wandb`` and ``dominate`` (logging and HTML pages, not timed work) are met by stub modules
written to a temporary folder put first on the PYTHONPATH of the official processes only; nothing is
installed. ``--convert N`` in end-to-end mode converts N generated 256x256 JPEGs with
``python -m translate convert`` and, with ``--official``, the official test.py, both from one generator
file in the official format (a unet_256 with random weights), timed at N/4 and N images (the difference
again), plus an official-style loop without the official code (batch 1, decode -> forward -> write PNG,
one image at a time) for when ``--official`` is not given. ``--markdown`` prints README-ready tables.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import functools
import itertools
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


def run_one(args) -> dict:
    import resource

    import torch

    from translate.config import Config, TrainConfig
    from translate.data.synthetic import random_batch
    from translate.engine.hardware import resolve_device
    from translate.engine.trainer import Trainer, to_device
    from translate.types import DataInfo
    from translate.registry import create_model, get_model_class

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.adam_loop:  # torch's CPU default: one tensor at a time (what the official scripts get)
        from translate.models.base import OptimSpec

        build = OptimSpec.build
        OptimSpec.build = lambda self, params: build(OptimSpec(self.kind, self.lr, self.betas, self.weight_decay,
                                                                {**self.extra, "fused": False}), params)
    device = resolve_device(args.device)
    cls = get_model_class(args.model)
    info = DataInfo(size=args.size, class_names=("a", "b") if cls.task == "labelled" else (), dim=args.dim)
    torch.manual_seed(0)
    opts = dict(kv.split("=", 1) for kv in args.opt)
    opts = {k: _value(v) for k, v in opts.items()}
    model = create_model(args.model, info, opts)
    # the baseline runs torch's convolutions everywhere (no GEMM path), as the official scripts do
    cfg = Config(model=args.model, train=TrainConfig(precision=args.precision, channels_last=args.channels_last, device=args.device,
                                                     cpu_gemm=not args.adam_loop))
    trainer = Trainer.for_step(cfg, model, device)
    batch = to_device(random_batch(cls.task, info, args.batch_size), device, trainer.channels_last)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for _ in range(args.warmup):
        trainer.train_step(batch)
        trainer.step += 1
    sync()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(args.steps):
        t0 = time.perf_counter()
        trainer.train_step(batch)
        trainer.step += 1
        sync()
        times.append(time.perf_counter() - t0)
    times.sort()
    median = times[len(times) // 2]
    row = {"variant": "baseline" if args.adam_loop else "translate", "model": args.model, "size": args.size, "batch": args.batch_size, "precision": args.precision,
           "channels_last": trainer.channels_last, "device": str(device), "s_per_iter": median,
           "train_img_s": args.batch_size / median,
           "peak_mem_mb": (torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda"
                           else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}
    row["gflop_s"] = count_step_flops(trainer, batch) / median / 1e9
    if args.convert:
        row["convert_img_s"] = _convert(model, args, device)
    return row


def _convert(model, args, device) -> float:
    """End to end: decode, translate in batches, encode PNG, for ``args.convert`` generated images."""
    from pathlib import Path

    import numpy as np

    from translate.data.image_files import save_image
    from translate.inference import convert_folder

    if not hasattr(model, "translate") or model.task not in ("paired", "unpaired"):
        return float("nan")
    with tempfile.TemporaryDirectory() as tmp:
        rng = np.random.default_rng(0)
        for i in range(args.convert):
            save_image(rng.integers(0, 255, (args.size, args.size, 3), dtype=np.uint8), Path(tmp) / "in" / f"{i}.png")
        model.to(memory_format=__import__("torch").contiguous_format)
        report = convert_folder(model, Path(tmp) / "in", Path(tmp) / "out", batch_size=args.convert_batch, precision=args.precision)
        return report.images_per_s


def _value(v: str):
    import yaml

    return yaml.safe_load(v)


# ---------------------------------------------------------------- end to end: the user's wait

ROOT = Path(__file__).resolve().parents[1]
NOT_LOGGED = "-"


@dataclass(frozen=True)
class Case:
    """One end-to-end configuration: ours as ``translate fit`` flags, the official code as train.py options."""

    name: str
    title: str
    model: str  # ours
    official_model: str  # theirs: pix2pix | cycle_gan
    net_g: str
    load: int
    crop: int
    iters: tuple[int, int]  # the two iteration counts
    options: tuple[tuple[str, int], ...] = ()  # model options beyond the defaults (both codes), e.g. (("ngf", 8),)

    @property
    def paired(self) -> bool:
        return self.model == "pix2pix"


CASES = {c.name: c for c in [
    Case("p2p256", "pix2pix 256", "pix2pix", "pix2pix", "unet_256", 286, 256, (10, 30)),
    Case("p2p128", "pix2pix 128", "pix2pix", "pix2pix", "unet_128", 143, 128, (10, 40)),
    Case("cyc128", "CycleGAN 128", "cyclegan", "cycle_gan", "resnet_9blocks", 143, 128, (4, 12)),
    Case("cyc256", "CycleGAN 256", "cyclegan", "cycle_gan", "resnet_9blocks", 286, 256, (3, 8)),
]}
QUICK = Case("quick", "pix2pix 32 (quick)", "pix2pix", "pix2pix", "unet_32", 32, 32, (3, 6), (("ngf", 8), ("ndf", 8)))


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
    names = [("avx2", "AVX2"), ("avx512f", "AVX-512F"), ("avx512_bf16", "AVX512-BF16"), ("amx_bf16", "AMX-BF16"),
             ("amx_tile", "AMX")]
    isa = [name for flag, name in names if flag in flags]
    if "AMX-BF16" in isa and "AMX" in isa:
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
    trainer = Trainer.for_step(Config(model=case.model, train=TrainConfig(device="cpu")), model, torch.device("cpu"))
    return count_step_flops(trainer, to_device(random_batch(cls.task, info, 1), torch.device("cpu"), False))


def count_step_flops(trainer, batch: dict) -> float:
    """FLOPs of one ``trainer.train_step(batch)``: forward and backward of every network it runs (the
    optimizers' element-wise updates are not counted)."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        trainer.train_step(batch)
    return float(counter.get_total_flops())


def make_images(folder: Path, paired: bool, count: int, size: int = 256, seed: int = 0) -> Path:
    """``count`` photo-like JPEGs (quality 90): smooth colour noise, fine texture and a few shapes; A|B
    images of 2*size x size in folder/train/ when ``paired``, else size x size in folder/trainA/ and trainB/."""
    import numpy as np
    from PIL import Image, ImageDraw, ImageFilter

    rng = np.random.default_rng(seed)

    def photo() -> Image.Image:
        low = Image.fromarray(rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)).resize((size, size), Image.BICUBIC)
        arr = np.asarray(low, dtype=np.int16) + rng.normal(0, 12, (size, size, 3)).astype(np.int16)
        img = Image.fromarray(arr.clip(0, 255).astype(np.uint8))
        draw = ImageDraw.Draw(img)
        for _ in range(int(rng.integers(3, 8))):
            x, y = rng.integers(0, size, 2)
            r = int(rng.integers(size // 16, size // 4))
            colour = tuple(int(c) for c in rng.integers(0, 256, 3))
            (draw.ellipse if rng.random() < 0.5 else draw.rectangle)((x - r, y - r, x + r, y + r), fill=colour)
        return img.filter(ImageFilter.GaussianBlur(0.8))

    folders = [folder / "train"] if paired else [folder / "trainA", folder / "trainB"]
    for sub in folders:
        sub.mkdir(parents=True, exist_ok=True)
        for i in range(count):
            if paired:
                b = photo()
                a = b.filter(ImageFilter.FIND_EDGES).convert("L").convert("RGB")
                img = Image.new("RGB", (2 * size, size))
                img.paste(a, (0, 0))
                img.paste(b, (size, 0))
            else:
                img = photo()
            img.save(sub / f"{i:04d}.jpg", quality=90)
    return folder


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


def official_env(stubs: Path, official: Path) -> dict:
    """The environment of the official processes: stubs for wandb and dominate first on the PYTHONPATH."""
    (stubs / "dominate").mkdir(parents=True, exist_ok=True)
    (stubs / "wandb.py").write_text("run = None\n")
    any_tag = ("class _Tag:\n    def __init__(self, *a, **k): self.head = self\n"
               "    def __enter__(self): return self\n    def __exit__(self, *a): return False\n"
               "    def __getattr__(self, name): return _Tag()\n    def __call__(self, *a, **k): return _Tag()\n"
               "    def add(self, *a, **k): return _Tag()\n    def render(self, *a, **k): return ''\n")
    (stubs / "dominate" / "__init__.py").write_text(any_tag + "document = _Tag\n")
    (stubs / "dominate" / "tags.py").write_text("from dominate import _Tag\n" + "".join(
        f"{t} = _Tag\n" for t in ("meta", "h3", "table", "tr", "td", "p", "a", "img", "br")))
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(stubs), str(official)])}


def ours_env() -> dict:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}


def fit_ours(case: Case, data: Path, work: Path, precision: str, iters: int, workers: int | None, device: str) -> tuple[float, float, Path]:
    name = f"{case.name}-{precision}-{iters}"
    cmd = [sys.executable, "-m", "translate", "fit", "--paired" if case.paired else "--unpaired", str(data),
           "--model", case.model, "--netG", case.net_g, "--load-size", str(case.load), "--crop-size", str(case.crop),
           "--batch-size", "1", "--steps", str(iters), "--precision", precision, "--device", "cpu",
           "--log-every", str(max(1, iters // 6)), "--runs-dir", str(work / "runs"), "--name", name]
    cmd += [word for key, value in case.options for word in (f"--{key}", str(value))]
    if workers is not None:
        cmd += ["--workers", str(workers)]
    seconds, peak = timed(cmd, ours_env(), work, work / f"{name}.log")
    return seconds, peak, work / "runs" / name


def fit_official(case: Case, data: Path, work: Path, official: Path, env: dict, iters: int) -> tuple[float, float]:
    name = f"{case.name}-official-{iters}"
    cmd = [sys.executable, str(official / "train.py"), "--dataroot", str(data), "--name", name,
           "--checkpoints_dir", str(work / "official"), "--model", case.official_model, "--netG", case.net_g,
           "--dataset_mode", "aligned" if case.paired else "unaligned", "--direction", "AtoB", "--batch_size", "1",
           "--load_size", str(case.load), "--crop_size", str(case.crop), "--no_html", "--n_epochs", "1",
           "--n_epochs_decay", "0", "--max_dataset_size", str(iters), "--num_threads", "4"]
    cmd += [word for key, value in case.options for word in (f"--{key}", str(value))]
    return timed(cmd, env, work, work / f"{name}.log")


def end_to_end(args, cases: list[Case], peak: dict, work: Path, echo) -> list[dict]:
    official = Path(args.official).resolve() if args.official else None
    env = official_env(work / "stubs", official) if official else None
    rows = []
    for case in cases:
        n1, n2 = args.iters or case.iters
        if args.data:
            data = Path(args.data).resolve()
        else:
            size = 32 if case is QUICK else 256
            data = make_images(work / ("paired" if case.paired else "unpaired") / str(size), case.paired, n2, size)
        flops = step_flops(case)
        variants = (["official"] if official else []) + args.precision
        base = None
        for variant in variants:
            if variant == "official":
                t1, rss1 = fit_official(case, data, work, official, env, n1)
                t2, rss2 = fit_official(case, data, work, official, env, n2)
                ips, wait = None, None
            else:
                t1, rss1, _ = fit_ours(case, data, work, variant, n1, args.workers, args.device)
                t2, rss2, run = fit_ours(case, data, work, variant, n2, args.workers, args.device)
                ips, wait = steady_state(run / "metrics.csv")
            s = per_iteration(n1, t1, n2, t2)
            base = s if variant == "official" else base
            # FLOP/s from the two-count time; where noise swamped the difference, from the run's own images/s
            achieved = flops / s if s > 0 else flops * ips if ips else float("nan")
            row = {"case": case.title, "variant": "official" if variant == "official" else f"translate {variant}",
                   "iters": f"{n1}/{n2}", "s_per_iter": s, "speedup": base / s if base and variant != "official" else None,
                   "images_per_s": ips, "data_wait": wait, "peak_rss_mb": max(rss1, rss2),
                   "gflop_s": achieved / 1e9, "pct_peak": 100 * achieved / peak["bf16" if variant == "bf16" else "fp32"],
                   "from_metrics": not s > 0,
                   "wall_s": t2}
            rows.append(row)
            echo(row)
    return rows


def convert_end_to_end(args, peak: dict, work: Path, echo) -> list[dict]:
    """``translate convert`` vs the official test.py (and an official-style loop) on generated 256x256 JPEGs."""
    import torch

    from translate.files import atomic_save
    from translate.nn.official import build, to_official

    n2 = args.convert
    n1 = max(1, n2 // 4)
    images = make_images(work / "convert", False, n2, 256, seed=1) / "trainA"
    folders = {}
    for n in (n1, n2):
        folders[n] = work / "convert" / f"in{n}"
        folders[n].mkdir(exist_ok=True)
        for src in sorted(images.iterdir())[:n]:
            shutil.copyfile(src, folders[n] / src.name)
    torch.manual_seed(0)
    net = build("unet_256", 3, 3, 64, "batch", True).eval()
    checkpoints = work / "convert" / "checkpoints"
    weights = checkpoints / "bench" / "latest_net_G.pth"
    weights.parent.mkdir(parents=True, exist_ok=True)
    atomic_save(to_official(net.state_dict()), weights)

    def ours(n: int):
        cmd = [sys.executable, "-m", "translate", "convert", str(weights), str(folders[n]), str(work / "convert" / f"ours{n}"),
               "--model", "pix2pix", "--netG", "unet_256", "--norm", "batch", "--device", "cpu"]
        return timed(cmd, ours_env(), work, work / f"convert-ours-{n}.log")

    def theirs(n: int):
        cmd = [sys.executable, str(Path(args.official).resolve() / "test.py"), "--dataroot", str(folders[n]), "--name", "bench",
               "--checkpoints_dir", str(checkpoints), "--model", "test", "--netG", "unet_256", "--norm", "batch",
               "--dataset_mode", "single", "--eval", "--num_test", str(n), "--preprocess", "none",
               "--results_dir", str(work / "convert" / f"official{n}")]
        return timed(cmd, official_env(work / "stubs", Path(args.official).resolve()), work, work / f"convert-official-{n}.log")

    variants = [("official test.py", theirs)] if args.official else [("official-style loop", None)]
    variants.append(("translate convert", ours))
    rows, base = [], None
    for title, fn in variants:
        if fn is None:
            t1, t2, rss = official_style_loop(net, folders[n1], work / "convert" / "loop1"), \
                official_style_loop(net, folders[n2], work / "convert" / "loop2"), float("nan")
        else:
            (t1, rss1), (t2, rss2) = fn(n1), fn(n2)
            rss = max(rss1, rss2)
        ips = 1 / per_iteration(n1, t1, n2, t2)
        base = base or ips
        row = {"case": "convert unet_256 256x256", "variant": title, "images": f"{n1}/{n2}", "images_per_s": ips,
               "speedup": ips / base if fn is ours else None, "peak_rss_mb": rss, "wall_s": t2}
        rows.append(row)
        echo(row)
    return rows


def official_style_loop(net, folder: Path, out: Path) -> float:
    """Seconds to convert ``folder`` as the official test.py does, without its code: one image at a time,
    decode -> normalise -> forward -> write PNG, synchronously, in this process."""
    import numpy as np
    import torch
    from PIL import Image

    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    with torch.no_grad():
        for path in sorted(folder.iterdir()):
            x = torch.from_numpy(np.asarray(Image.open(path).convert("RGB"))).permute(2, 0, 1).float() / 127.5 - 1
            y = net(x[None])[0]
            pixels = ((y.permute(1, 2, 0).numpy() + 1) * 127.5).clip(0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(out / f"{path.stem}.png")
    return time.perf_counter() - t0


def _cell(value, digits: int = 3) -> str:
    if value is None:
        return NOT_LOGGED
    if isinstance(value, float):
        if math.isnan(value):
            return NOT_LOGGED
        return f"{value:.{digits}f}"
    return str(value)


E2E_COLUMNS = [("case", "case"), ("variant", "variant"), ("iters", "iterations"), ("s_per_iter", "s/iter"),
               ("speedup", "speed-up"), ("images_per_s", "images/s (metrics)"), ("data_wait", "data wait"),
               ("peak_rss_mb", "peak memory MB"), ("gflop_s", "GFLOP/s"), ("pct_peak", "% of peak")]
CONVERT_COLUMNS = [("case", "case"), ("variant", "variant"), ("images", "images"), ("images_per_s", "images/s"),
                   ("speedup", "speed-up"), ("peak_rss_mb", "peak memory MB"), ("wall_s", "wall s (all images)")]


def format_cell(key: str, value, row: dict | None = None) -> str:
    if key == "speedup" and value is not None:
        return f"{value:.2f}x"
    if key == "data_wait" and value is not None:
        return f"{100 * value:.0f}%"
    if key == "pct_peak":
        if math.isnan(value):
            return NOT_LOGGED
        return f"{value:.{1 if value >= 1 else 2}f}%" + ("*" if (row or {}).get("from_metrics") else "")
    if key in ("peak_rss_mb", "gflop_s"):
        return _cell(value, 0 if key == "peak_rss_mb" else 1)
    return _cell(value)


def table(rows: list[dict], columns: list[tuple[str, str]]) -> str:
    lines = ["| " + " | ".join(title for _, title in columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(format_cell(k, r.get(k), r) for k, _ in columns) + " |" for r in rows]
    return "\n".join(lines)


def machine_header(peak: dict) -> str:
    import torch

    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        text = ""
    model, isa = cpu_info(text)
    lines = [(f"CPU: {model} ({', '.join(isa) or 'no AVX2'}; bf16 {'native' if native_bf16(isa) else 'emulated'}), "
              f"{os.cpu_count()} logical CPUs"),
             f"torch {torch.__version__}, {torch.get_num_threads()} threads; {datetime.date.today().isoformat()}",
             (f"measured peak: fp32 {peak['fp32'] / 1e9:.1f} GFLOP/s, bf16 {peak['bf16'] / 1e9:.1f} GFLOP/s "
              f"(best of a 3x3 convolution 4x256x64x64 and a 2048x2048 matmul)")]
    return "\n".join(lines)


def run_end_to_end(args) -> None:
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.official and not all((Path(args.official) / f).is_file() for f in ("train.py", "test.py")):
        doc = __doc__
        recipe = doc[doc.index("``--official DIR``"):doc.index("Its imports of")].strip()
        sys.exit(f"--official {args.official}: no train.py and test.py there.\n\n{recipe}")
    cases = [QUICK] if args.quick else [CASES[c] for c in args.cases]
    peak = measure_peak(0.4 if args.quick else 2.0)
    print(machine_header(peak), flush=True)
    progress = (lambda row: None) if args.markdown else (lambda row: print("  " + json.dumps(
        {k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()}), flush=True))
    with tempfile.TemporaryDirectory(prefix="translate-bench-") as tmp:
        work = Path(tmp)
        rows = end_to_end(args, cases, peak, work, progress)
        # the peak again after the cases, the better of the two: one measurement can meet a busy moment
        again = measure_peak(0.4 if args.quick else 2.0)
        peak = {k: max(v, again[k]) for k, v in peak.items()}
        for row in rows:
            row["pct_peak"] = 100 * row["gflop_s"] * 1e9 / peak["bf16" if row["variant"].endswith("bf16") else "fp32"]
        print(f"measured peak after the cases: fp32 {again['fp32'] / 1e9:.1f}, bf16 {again['bf16'] / 1e9:.1f} GFLOP/s; "
              f"% of peak uses the better of the two")
        print("\nTraining end to end (whole processes; s/iter from two iteration counts; speed-up vs the official code)")
        print(table(rows, E2E_COLUMNS), flush=True)
        if any(r.get("from_metrics") for r in rows):
            print("* the second run was not slower than the first (a busy machine): FLOP/s from metrics.csv images/s")
        if args.convert:
            crows = convert_end_to_end(args, peak, work, progress)
            print("\nConvert end to end (whole processes; images/s from two image counts)")
            print(table(crows, CONVERT_COLUMNS), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", nargs="+", default=["pix2pix"])
    parser.add_argument("--size", type=int, nargs="+", default=[256])
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--precision", nargs="+", default=["fp32"], choices=["fp32", "bf16", "fp16"])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--steps", type=int, default=12, help="timed iterations (the median is reported)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--dim", type=int, default=0, help="vector data dimension (2-D toys)")
    parser.add_argument("--channels-last", dest="channels_last", action="store_true", default=None,
                        help="force channels_last memory format (default: the engine's choice, on for CUDA only)")
    parser.add_argument("--compare-layout", action="store_true", help="run with channels_last on and off")
    parser.add_argument("--baseline", action="store_true",
                        help="also run each configuration as the official scripts do: torch's own convolutions "
                             "(oneDNN everywhere) and per-tensor Adam")
    parser.add_argument("--opt", action="append", default=[], help="model option key=value (repeatable)")
    parser.add_argument("--convert", type=int, default=0, help="also time convert on N generated images")
    parser.add_argument("--convert-batch", type=int, default=8)
    parser.add_argument("--end-to-end", action="store_true",
                        help="time whole `translate fit` processes on real-sized JPEGs (see above) instead of the step")
    parser.add_argument("--cases", nargs="+", default=["p2p256"], choices=sorted(CASES),
                        help="end-to-end cases: p2p256 (unet_256, load 286 crop 256), p2p128 (unet_128, load 143 crop 128), "
                             "cyc128 and cyc256 (resnet_9blocks) [default: p2p256]")
    parser.add_argument("--quick", action="store_true", help="end to end: one tiny case (pix2pix 32x32, 3 and 6 steps)")
    parser.add_argument("--iters", type=int, nargs=2, metavar=("N1", "N2"),
                        help="end to end: the two iteration counts [default: per case, e.g. 10 30 for p2p256]")
    parser.add_argument("--data", help="end to end: a folder to train on instead of generated JPEGs "
                                       "(paired: holding train/ of A|B images; unpaired: trainA/ and trainB/)")
    parser.add_argument("--official", help="end to end: a folder holding the official code's .py files (commit 2a7afba)")
    parser.add_argument("--workers", type=int, help="end to end: `translate fit --workers` [default: the engine's choice]")
    parser.add_argument("--markdown", action="store_true", help="print only the README-ready markdown tables")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.end_to_end:
        run_end_to_end(args)
        return
    if args.one:
        one = argparse.Namespace(**json.loads(args.one))
        print("RESULT " + json.dumps(run_one(one)), flush=True)
        return
    from translate.engine.hardware import resolve_device

    device = str(resolve_device(args.device))
    peak = measure_peak(device=device)
    print(machine_header(peak) + (f" on {device}" if device != "cpu" else "") + "\n", flush=True)
    rows = []
    layouts = [True, False] if args.compare_layout else [args.channels_last]
    for model in args.model:
        for size in args.size:
            for precision in args.precision:
                for cl, base in [(cl, b) for cl in layouts for b in ([True, False] if args.baseline else [False])]:
                    one = {**vars(args), "model": model, "size": size, "precision": precision, "channels_last": cl,
                           "one": None, "adam_loop": base}
                    proc = subprocess.run([sys.executable, __file__, "--one", json.dumps(one)], capture_output=True, text=True)
                    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
                    if proc.returncode or not lines:
                        print(f"{model} {size} {precision}: failed\n{proc.stderr[-2000:]}", file=sys.stderr)
                        continue
                    rows.append(json.loads(lines[-1][7:]))
                    rows[-1]["pct_peak"] = 100 * rows[-1]["gflop_s"] * 1e9 / peak["fp32" if precision == "fp32" else "bf16"]
                    _print([rows[-1]], header=len(rows) == 1)


def _print(rows, header: bool) -> None:
    cols = ["variant", "model", "size", "batch", "precision", "channels_last", "device", "s_per_iter", "train_img_s", "peak_mem_mb", "gflop_s", "pct_peak", "convert_img_s"]
    if header:
        print("| " + " | ".join(cols) + " |")
        print("|" + "---|" * len(cols))
    for r in rows:
        cells = [format_cell(c, r[c]) if c == "pct_peak" else f"{r[c]:.3f}" if isinstance(r.get(c), float) else str(r.get(c, ""))
                 for c in cols]
        print("| " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()

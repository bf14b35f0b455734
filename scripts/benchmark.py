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

{official} ``--convert N`` in end-to-end mode converts N generated 256x256 JPEGs with
``python -m translate convert`` and, with ``--official``, the official test.py, both from one generator
file in the official format (a unet_256 with random weights), timed at N/4 and N images (the difference
again), plus an official-style loop without the official code (batch 1, decode -> forward -> write PNG,
one image at a time) for when ``--official`` is not given. ``--markdown`` prints README-ready tables.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # its parts, scripts/bench/, also when loaded as a module
from bench.cases import CASES, QUICK, Case, make_images  # noqa: E402
from bench.official import RECIPE, fit_official, missing, official_env, test_command  # noqa: E402
from bench.report import CONVERT_COLUMNS, E2E_COLUMNS, machine_header, print_rows, table  # noqa: E402
from bench.profile import split as profile_split  # noqa: E402
from bench.profile import table as profile_table  # noqa: E402
from bench.timing import (  # noqa: E402
    count_step_flops, fit_ours, measure_peak, ours_env, per_iteration, step_flops, steady_state, timed)

__doc__ = __doc__.replace("{official}", RECIPE.strip())


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
    opts = {**(cls.paper_settings.get("model_opts", {}) if args.paper else {}), **{k: _value(v) for k, v in opts.items()}}
    model = create_model(args.model, info, opts)
    # the baseline runs torch's convolutions everywhere (no GEMM path), as the official scripts do
    cfg = Config(model=args.model, train=TrainConfig(precision=args.precision, channels_last=args.channels_last, device=args.device,
                                                     cpu_gemm=not args.adam_loop))
    host = random_batch(cls.task, info, args.batch_size)
    trainer = Trainer.for_step(cfg, model, device, batch=host)  # the batch builds data-dependent networks (CUT's F)
    batch = to_device(host, device, trainer.channels_last)
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
    if args.profile:
        def step():
            trainer.train_step(batch)
            trainer.step += 1
        row["profile"] = profile_split(step, args.profile)
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

    def ours(precision: str, compiled: bool = False):
        def run(n: int, tag: str):
            out = work / "convert" / f"ours-{precision}{'-compile' if compiled else ''}-{n}-{tag}"
            cmd = [sys.executable, "-m", "translate", "convert", str(weights), str(folders[n]), str(out), "--model", "pix2pix",
                   "--netG", "unet_256", "--norm", "batch", "--device", "cpu", "--precision", precision,
                   "--mode", "eval"]  # as test.py --eval: running statistics, no dropout
            # --compile: one inductor cache per variant, empty for its first (cold) run, which is not one of the counts
            env = {**ours_env(), "TORCHINDUCTOR_CACHE_DIR": str(work / f"inductor-{precision}")} if compiled else ours_env()
            return timed(cmd + ["--compile"] * compiled, env, work, out.with_suffix(".log"))
        return run

    def theirs(n: int, tag: str):
        cmd = test_command(Path(args.official).resolve(), folders[n], checkpoints, n, work / "convert" / f"official{n}-{tag}")
        return timed(cmd, official_env(work / "stubs", Path(args.official).resolve()), work, work / f"convert-official-{n}-{tag}.log")

    variants = [("official test.py", theirs)] if args.official else [("official-style loop", None)]
    variants += [(f"translate convert {p}", ours(p)) for p in args.precision if p != "fp16"]
    if args.convert_compile:
        variants += [(f"translate convert {p} --compile", ours(p, True)) for p in args.precision if p != "fp16"]
    rows, base = [], None
    for title, fn in variants:
        cold = None
        if fn is None:
            t1, t2, rss = official_style_loop(net, folders[n1], work / "convert" / "loop1"), \
                official_style_loop(net, folders[n2], work / "convert" / "loop2"), float("nan")
        else:
            if title.endswith("--compile"):
                cold = fn(n2, "cold")[0]  # compiles with an empty cache; the counts below find it filled
            # the best of --convert-repeats runs of each count: a conversion is short, and one busy moment moves it
            runs = {n: [fn(n, str(r)) for r in range(args.convert_repeats)] for n in (n1, n2)}
            t1, t2 = (min(t for t, _ in runs[n]) for n in (n1, n2))
            rss = max(m for n in runs for _, m in runs[n])
        ips = 1 / per_iteration(n1, t1, n2, t2)
        base = base or ips
        row = {"case": "convert unet_256 256x256", "variant": title, "images": f"{n1}/{n2}", "images_per_s": ips,
               "speedup": ips / base if title.startswith("translate") else None, "peak_rss_mb": rss, "wall_s": t2,
               "cold_s": cold}
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
            x = torch.from_numpy(np.array(Image.open(path).convert("RGB"))).permute(2, 0, 1).float() / 127.5 - 1
            y = net(x[None])[0]
            pixels = ((y.permute(1, 2, 0).numpy() + 1) * 127.5).clip(0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(out / f"{path.stem}.png")
    return time.perf_counter() - t0



def run_end_to_end(args) -> None:
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.official and (why := missing(args.official)):
        sys.exit(why)
    if args.convert_repeats < 1:
        sys.exit("--convert-repeats must be at least 1")
    if args.official and args.quick:
        sys.exit("--quick times ours alone: its unet_32 is not a generator of the official code; leave out --official")
    cases = [QUICK] if args.quick else [CASES[c] for c in args.cases]
    peak = measure_peak(0.4 if args.quick else 2.0)
    print(machine_header(peak), flush=True)
    progress = (lambda row: None) if args.markdown else (lambda row: print("  " + json.dumps(
        {k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()}), flush=True))
    with tempfile.TemporaryDirectory(prefix="translate-bench-") as tmp:
        work = Path(tmp)
        rows = end_to_end(args, cases, peak, work, progress)
        if rows:
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
    parser.add_argument("--paper", action="store_true",
                        help="step mode: the model's paper settings (pix2pix: the official D and losses), as `fit --paper`")
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="step mode: also profile N steps and print where the time goes, by kind of operator")
    parser.add_argument("--convert", type=int, default=0, help="also time convert on N generated images")
    parser.add_argument("--convert-batch", type=int, default=8)
    parser.add_argument("--convert-compile", action="store_true",
                        help="end to end: also time `translate convert --compile` at each precision: a first run compiles "
                             "with an empty cache (its wall time is shown), the timed runs find the compiled code cached")
    parser.add_argument("--convert-repeats", type=int, default=2,
                        help="end to end: runs of each image count, the fastest kept [default: 2]")
    parser.add_argument("--end-to-end", action="store_true",
                        help="time whole `translate fit` processes on real-sized JPEGs (see above) instead of the step")
    parser.add_argument("--cases", nargs="*", default=["p2p256"], choices=sorted(CASES),
                        help="end-to-end cases: p2p256 (unet_256, load 286 crop 256), p2p128 (unet_128, load 143 crop 128), "
                             "cyc128 and cyc256 (resnet_9blocks); none (--cases alone) with --convert times convert "
                             "only [default: p2p256]")
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
                    print_rows([rows[-1]], header=len(rows) == 1)
    for row in rows:
        if "profile" in row:
            layout = "channels_last" if row["channels_last"] else "contiguous"
            print("\n" + profile_table(f"{row['model']} {row['size']} {row['precision']} {layout} ({row['variant']})", *row["profile"]))





if __name__ == "__main__":
    main()

"""Training and inference speed of any registered model, printed as a table.

    python scripts/benchmark.py --model pix2pix --size 256 --batch-size 1 --precision fp32 bf16
    python scripts/benchmark.py --model pix2pix --size 128 --opt net_g=unet_128 --convert 16

Each configuration runs in its own process, so the peak memory column is that configuration's own
(CUDA: peak allocated; CPU: peak resident set size of the process). The training step is the engine's
own ``Trainer.train_step`` on random data: the D step, the G step, optimizers and autocast included.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time


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
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        one = argparse.Namespace(**json.loads(args.one))
        print("RESULT " + json.dumps(run_one(one)), flush=True)
        return
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
                    _print([rows[-1]], header=len(rows) == 1)


def _print(rows, header: bool) -> None:
    cols = ["variant", "model", "size", "batch", "precision", "channels_last", "device", "s_per_iter", "train_img_s", "peak_mem_mb", "convert_img_s"]
    if header:
        print("| " + " | ".join(cols) + " |")
        print("|" + "---|" * len(cols))
    for r in rows:
        cells = [f"{r[c]:.3f}" if isinstance(r.get(c), float) else str(r.get(c, "")) for c in cols]
        print("| " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()

"""The 2-D lab: gan, wgan and wgan_gp on the ring of 8 Gaussians, the 5x5 grid and the Swiss roll.

Every run goes through the engine (translate.api.fit with data.layout="toy") for the same number of
iterations (one batch each; the WGANs take a generator step every 5th), then 2500 samples are scored
in the standard setting (translate.mode_coverage): modes covered (>= 20 samples within 3 std) and the
fraction of high-quality samples. It also shows the vanishing gradient of the minimax (saturating)
generator loss: G is held fixed while D trains, and the norm of G's gradient is logged under both
losses. Pictures (PNG): samples over the real density, and the discriminator/critic surface.

    python scripts/toy_modes.py --out toy_lab                   # 3000 iterations per run, ~10 CPU minutes in all
    python scripts/toy_modes.py --out toy_lab --steps 200 --toys grid25 --models wgan_gp   # a smoke run
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from translate import api, losses, pictures, plot2d
from translate.config import Config, TrainConfig
from translate.data.image_files import save_image
from translate.data.toy import TOYS, ToyDataset, get_toy
from translate.engine import run_folder
from translate.engine.trainer import Trainer, critic_position
from translate.files import safe_load
from translate.mode_coverage import SAMPLES, toy_coverage
from translate.registry import create_model

MODELS = ("gan", "wgan", "wgan_gp")
# Lab settings on top of each model's paper defaults (every run also gets --hidden). wgan_gp follows
# the WGAN-GP toy code (lambda 0.1: "smaller lambda seems to help for toy tasks"; Adam betas (0.5, 0.9))
# with a 10x larger learning rate (1e-3) so that a CPU budget of thousands, not 100k, iterations moves.
LAB_OPTS = {"gan": {}, "wgan": {}, "wgan_gp": {"lambda_gp": 0.1, "lr": 1e-3, "beta1": 0.5}}


def train_one(toy: str, model: str, args, out: Path) -> dict:
    opts = {"hidden": args.hidden, **LAB_OPTS[model], **args.opt.get(model, {})}
    cfg = api.resolve_config({
        "model": model, "model_opts": opts,
        "data": {"layout": "toy", "root": toy},
        "train": {"steps": args.steps, "steps_decay": args.steps_decay, "batch_size": args.batch_size,
                  "lr_policy": "linear" if args.steps_decay else "constant", "device": "cpu", "seed": args.seed,
                  "log_every": max(1, args.steps // 20), "sample_every": max(1, args.steps // 4),
                  "checkpoint_every": 10**9, "num_samples": 512},
        "run": {"runs_dir": str(out / "runs"), "name": f"{toy}-{model}"},
    })
    t0 = time.perf_counter()
    result = api.fit(cfg, progress=False)
    seconds = time.perf_counter() - t0
    run_dir = Path(result["run_dir"])
    net, _ = api.load_run(run_dir)
    net.load_state_dict(safe_load(run_dir / run_folder.CHECKPOINTS / "last.pt")["model"])  # D too, for its surface
    net.eval()
    with torch.no_grad(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(args.seed + 1)
        samples = net.sample(SAMPLES).float().numpy()
    cov = toy_coverage(toy, samples)
    picture(toy, net, samples, out / f"{toy}_{model}.png")
    return {"toy": toy, "model": model, "steps": args.steps, "g_steps": critic_position(net.critic_steps, args.steps)[0],
            "seconds": round(seconds, 1), "modes": cov.modes, "covered": cov.covered,
            "high_quality": round(cov.high_quality, 4), "counts": list(cov.counts), "run_dir": str(run_dir),
            "png": str(out / f"{toy}_{model}.png")}


def view_extent(toy: str) -> float:
    return plot2d.extent_of(get_toy(toy).anchors, margin=1.3)


def picture(toy: str, net, samples: np.ndarray, path: Path, size: int = 320) -> None:
    """Left: samples (red) over the real density (grey). Right: D's surface, real modes as dots."""
    ext = view_extent(toy)
    real = get_toy(toy).sample(20000, np.random.default_rng(0))
    left = plot2d.scatter(samples, ext, base=plot2d.density(real, ext, size), dot=1)
    with torch.no_grad():
        grid = torch.from_numpy(plot2d.grid_points(ext, size)).float()
        values = torch.cat([net.netD(g) for g in grid.split(8192)]).numpy().reshape(size, size)
    right = plot2d.scatter(real[:2000], ext, base=plot2d.surface(values), color=(0, 0, 0), dot=0)
    save_image(pictures.tile([[left, right]], gap=4), path)


def gradient_norms(toy: str, args, checkpoints=(0, 10, 50, 200, 1000, 3000)) -> list[dict]:
    """Arjovsky & Bottou's experiment on a 2-D toy: hold G fixed at its initialisation, train D alone
    (through the engine's train_step, with the generator step switched off), and log the norm of G's
    gradient under the saturating log(1 - D(G(z))) and the non-saturating -log D(G(z)) losses."""
    torch.manual_seed(args.seed)
    data = ToyDataset(toy, args.seed)
    model = create_model("gan", data.info, {"hidden": args.hidden})
    trainer = Trainer.for_step(Config(model="gan", train=TrainConfig(seed=args.seed, channels_last=False)), model,
                               torch.device("cpu"))
    model.critic_steps = lambda g_step: 10**12  # D steps only: G stays where it started
    g_params = model.param_groups()["G"]
    rows, step, gen = [], 0, torch.Generator().manual_seed(args.seed)
    for target in checkpoints:
        while step < target:
            idx = torch.randint(0, len(data), (args.batch_size,), generator=gen)
            trainer.train_step({"image": data.points[idx]})
            step += 1
        row = {"d_steps": step}
        z_fake = model.netG.sample(args.batch_size)
        for name, sat in (("saturating", True), ("non_saturating", False)):
            loss = losses.g_loss(model.netD(z_fake), "vanilla", saturating=sat)
            grads = torch.autograd.grad(loss, g_params, retain_graph=True)
            row[name] = float(torch.sqrt(sum((g.float() ** 2).sum() for g in grads)))
        with torch.no_grad():
            row["D(G(z))"] = float(torch.sigmoid(model.netD(z_fake)).mean())
        rows.append(row)
    return rows


def overview(results: list[dict], toys, models, out: Path) -> Path:
    """One picture: a row per toy, a column per model (sample panels only)."""
    rows = []
    for toy in toys:
        panels = []
        for m in models:
            r = next((r for r in results if r["toy"] == toy and r["model"] == m), None)
            if r:
                img = np.asarray(Image.open(r["png"]).convert("RGB"))
                panels.append(img[:, : img.shape[1] // 2 - 2])
        if panels:
            rows.append(panels)
    path = out / "overview.png"
    save_image(pictures.tile(rows, gap=4), path)
    return path


def table(results: list[dict]) -> str:
    lines = ["| toy | model | iterations (G steps) | modes covered | high-quality samples | CPU seconds |",
             "|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r['toy']} | {r['model']} | {r['steps']} ({r['g_steps']}) | {r['covered']}/{r['modes']} | "
                     f"{100 * r['high_quality']:.1f}% | {r['seconds']:.0f} |")
    return "\n".join(lines)


def parse_opts(items: list[str]) -> dict:
    """--opt wgan_gp.lambda_gp=0.1 -> {"wgan_gp": {"lambda_gp": 0.1}}"""
    import yaml

    out: dict = {}
    for item in items:
        key, _, value = item.partition("=")
        model, _, name = key.partition(".")
        if not name or model not in MODELS:
            sys.exit(f"--opt expects MODEL.KEY=VALUE with MODEL one of {', '.join(MODELS)}, got '{item}'")
        parsed = yaml.safe_load(value)
        if isinstance(parsed, str):  # YAML reads 1e-3 as a string
            try:
                parsed = float(parsed)
            except ValueError:
                pass
        out.setdefault(model, {})[name] = parsed
    return out


def main(argv=None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True, help="output folder (runs, PNGs, results.json)")
    p.add_argument("--toys", nargs="+", default=list(TOYS), choices=list(TOYS))
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    p.add_argument("--steps", type=int, default=3000, help="iterations per run, the same for every model")
    p.add_argument("--steps-decay", type=int, default=1500, help="the last N iterations decay the learning rate linearly to 0 (0: constant)")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--hidden", type=int, default=128, help="MLP width of G and D")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (the budget is per thread)")
    p.add_argument("--opt", action="append", default=[], help="MODEL.KEY=VALUE model option (repeatable)")
    p.add_argument("--grad-checkpoints", type=int, nargs="+", default=[0, 10, 50, 200, 1000, 3000],
                   help="D-only steps at which G's gradient norms are logged")
    p.add_argument("--no-gradients", action="store_true", help="skip the saturating vs non-saturating experiment")
    args = p.parse_args(argv)
    args.opt = parse_opts(args.opt)
    torch.set_num_threads(args.threads)
    logging.getLogger("translate").setLevel(logging.WARNING)
    args.out.mkdir(parents=True, exist_ok=True)

    if not args.no_gradients:
        rows = gradient_norms(args.toys[0], args, args.grad_checkpoints)
        print(f"generator gradient norm, G fixed at init while D trains ({args.toys[0]}):")
        print("| D steps | mean D(G(z)) | saturating log(1-D) | non-saturating -log D | ratio |\n|---|---|---|---|---|")
        for r in rows:
            print(f"| {r['d_steps']} | {r['D(G(z))']:.3g} | {r['saturating']:.3g} | {r['non_saturating']:.3g} | "
                  f"{r['saturating'] / max(r['non_saturating'], 1e-30):.2g} |")
        (args.out / "gradients.json").write_text(json.dumps(rows, indent=1))
        print()

    results = []
    for toy in args.toys:
        for model in args.models:
            r = train_one(toy, model, args, args.out)
            results.append(r)
            print(f"{toy:10s} {model:8s} {r['covered']}/{r['modes']} modes, {100 * r['high_quality']:.1f}% high quality, "
                  f"{r['seconds']:.0f} s", flush=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=1))
    print()
    print(table(results))
    print(f"\npictures: {overview(results, args.toys, args.models, args.out)} and {args.out}/<toy>_<model>.png")
    return results


if __name__ == "__main__":
    main()

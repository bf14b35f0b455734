"""Horse-to-zebra with CycleGAN: train, convert testA/ (and testB/), write a gallery PNG and index.html.

    python scripts/horse2zebra.py                       # CPU-sized default: 64x64, ngf 32, 1500 steps
    python scripts/horse2zebra.py --size 128 --steps 3000
    python scripts/horse2zebra.py --paper               # the paper's setting: 256 (load 286), ngf/ndf 64, 100 + 100 epochs
    python scripts/horse2zebra.py --resume runs/h2z     # continue a stopped run, then convert
    python scripts/horse2zebra.py --gallery-only runs/h2z

The data folder holds trainA/ (horses), trainB/ (zebras) and testA/ testB/, as the CycleGAN authors
distribute it (``python datasets/download.py horse2zebra`` fetches it); it defaults to
../shared/data/horse2zebra relative to the repository when that folder exists. Training goes
through translate.api (the same path as ``translate fit --unpaired DIR``); conversion through
translate.inference (as ``translate convert``).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO.parent / "shared" / "data" / "horse2zebra"


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, help="folder with trainA/ trainB/ testA/ [../shared/data/horse2zebra when it exists]")
    p.add_argument("--size", type=int, default=64, help="training crop size [64; paper 256]")
    p.add_argument("--steps", type=int, default=1500, help="iterations, the last half with linear decay [1500]")
    p.add_argument("--ngf", type=int, default=32, help="generator width [32; paper 64]")
    p.add_argument("--ndf", type=int, default=64, help="discriminator width [64, the paper's]")
    p.add_argument("--paper", action="store_true", help="the paper's setting: 256 crops of 286 resizes, ngf/ndf 64, 100 + 100 epochs, batch 1")
    p.add_argument("--up", default="transpose", choices=["transpose", "resize"], help="generator up-sampling")
    p.add_argument("--runs-dir", default="runs")
    p.add_argument("--name", default="horse2zebra")
    p.add_argument("--device", default="auto")
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0, help="CPU threads for torch (0: its default); 1 is often fastest on a busy machine")
    p.add_argument("--sample-every", type=int, default=250)
    p.add_argument("--checkpoint-every", type=int, default=250)
    p.add_argument("--gallery-count", type=int, default=12, help="rows in the gallery PNG (index.html shows all)")
    p.add_argument("--resume", type=Path, help="continue this run folder, then convert")
    p.add_argument("--gallery-only", type=Path, help="skip training: convert and write the gallery of this run folder")
    return p.parse_args(argv)


def check_data(root: Path | None) -> Path:
    """``root``, or the default folder when it exists; exits 2 with one line naming --data otherwise."""
    if root is None:
        if not DEFAULT_DATA.is_dir():
            print(f"error: no data: the default {DEFAULT_DATA} does not exist; get horse2zebra with "
                  f"`python datasets/download.py horse2zebra` and pass its folder with --data DIR", file=sys.stderr)
            sys.exit(2)
        root = DEFAULT_DATA
    root = root.expanduser()
    missing = [d for d in ("trainA", "trainB", "testA") if not (root / d).is_dir()]
    if missing:
        print(f"error: {root}: no {', '.join(m + '/' for m in missing)} there. Get horse2zebra (trainA/ trainB/ "
              f"testA/ testB/: `python datasets/download.py horse2zebra`) and pass its folder with --data DIR", file=sys.stderr)
        sys.exit(2)
    return root


def train(args) -> Path:
    from translate import api

    if args.resume:
        return Path(api.resume(args.resume)["run_dir"])
    size, ngf, ndf = (256, 64, 64) if args.paper else (args.size, args.ngf, args.ndf)
    load = round(size * 286 / 256)  # the official 286 -> 256 ratio
    train_cfg = {"device": args.device, "precision": args.precision, "seed": args.seed,
                 "sample_every": args.sample_every, "checkpoint_every": args.checkpoint_every, "log_every": 25}
    if args.paper:
        train_cfg.update(epochs=100, epochs_decay=100)
    else:
        train_cfg.update(steps=args.steps, steps_decay=args.steps // 2)
    cfg = api.resolve_config({
        "model": "cyclegan",
        "data": {"layout": "unpaired", "root": str(check_data(args.data)), "load_size": load, "crop_size": size},
        "train": train_cfg,
        "run": {"name": args.name, "runs_dir": args.runs_dir},
        "model_opts": {"ngf": ngf, "ndf": ndf, "up": args.up},
    })
    for line in api.describe(cfg):
        if line.startswith("*"):
            print(" ", line)
    return Path(api.fit(cfg)["run_dir"])


def gallery(run_dir: Path, data: Path, count: int, device: str) -> list[Path]:
    """Convert testA/ (AtoB) and testB/ (BtoA) at the training size; a PNG per direction and an index.html."""
    import cv2

    from translate import api
    from translate.data.image_files import list_images, load_image
    from translate.pictures import write_gallery
    from translate.inference import convert_folder

    model, cfg = api.load_run(run_dir, device=device)
    size = cfg.data.crop_size
    out_root = run_dir / "gallery"
    written = []
    for direction, folder in (("AtoB", "testA"), ("BtoA", "testB")):
        src = data / folder
        if not src.is_dir():
            continue
        dst = out_root / folder
        report = convert_folder(model, src, dst, direction=direction, size=size, batch_size=8, overwrite=True)
        print(f"{direction}: converted {report.converted} of {src} ({report.images_per_s:.1f} images/s), "
              f"{len(report.failed)} failed")
        pairs = [(f, dst / f.with_suffix(".png").name) for f in list_images(src)]
        rows = [[cv2.resize(load_image(f), (size, size), interpolation=cv2.INTER_AREA), load_image(g)]
                for f, g in pairs[:count] if g.exists()]
        if rows:
            written.append(write_gallery(out_root, f"gallery_{direction}", ["input", "output"], rows,
                                         title=f"{run_dir.name}: {folder}/ at {size}x{size}"))
    return written + [out_root / "index.html"]


def main(argv=None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    data = check_data(args.data)
    run_dir = args.gallery_only or train(args)
    for path in gallery(Path(run_dir), data, args.gallery_count, args.device):
        print("wrote", path)


if __name__ == "__main__":
    main()

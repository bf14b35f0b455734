"""Sketch to photo: pix2pix on edges2shoes (edges on the left, photo on the right of each A|B file).

    python scripts/sketch2photo.py                        # CPU budget: 128x128, 1500 iterations
    python scripts/sketch2photo.py --size 256 --steps 20000 --batch-size 4
    python scripts/sketch2photo.py --paper                # the paper's setting: 256, batch 4, 5 + 10 epochs
    python scripts/sketch2photo.py --data DIR             # another A|B folder with train/ and val/

Trains through the same engine as ``translate fit``, converts the sketches of ``val/`` and writes a
gallery (sketch | generated photo | real photo) as one PNG plus an index.html in the run folder.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

DEFAULT_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "edges2shoes"


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with train/ and val/ A|B images")
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--batch-size", type=int, default=1)
    p.add_argument("--paper", action="store_true", help="256x256, batch 4, 5 epochs + 10 of decay (the paper's edges2shoes run)")
    p.add_argument("--device", default="auto")
    p.add_argument("--precision", default="fp32")
    p.add_argument("--runs-dir", default="runs")
    p.add_argument("--name", default="sketch2photo")
    p.add_argument("--rows", type=int, default=8, help="gallery rows")
    args = p.parse_args(argv)

    train_dir, val_dir = args.data / "train", args.data / "val"
    if not train_dir.is_dir() or not val_dir.is_dir():
        sys.exit(f"error: {args.data}: needs train/ and val/ folders of A|B images (edges left, photo right); "
                 f"pass the edges2shoes folder with --data DIR")

    from translate import api
    from translate.cli import _setup_logging
    from translate.data.image_files import list_images, load_image
    from translate.pictures import write_gallery
    from translate.inference import convert_folder

    _setup_logging()
    size = 256 if args.paper else args.size
    train = {"device": args.device, "precision": args.precision, "log_every": 50, "sample_every": 250, "checkpoint_every": 500}
    if args.paper:
        train.update(epochs=5, epochs_decay=10, batch_size=4)
    else:
        train.update(steps=args.steps, steps_decay=args.steps // 2, batch_size=args.batch_size)
    cfg = api.resolve_config({"model": "pix2pix", "train": train, "run": {"name": args.name, "runs_dir": args.runs_dir},
                              "data": {"layout": "paired", "root": str(train_dir), "load_size": round(size * 286 / 256), "crop_size": size}})
    result = api.fit(cfg)
    run_dir = result["run_dir"]
    model, _ = api.load_run(run_dir, device=args.device)
    out = run_dir / "converted-val"
    report = convert_folder(model, val_dir, out, ab="left", size=size)
    print(f"converted {report.converted} val sketches in {report.seconds:.1f} s into {out}")
    rows = []
    for path in list_images(val_dir)[: args.rows]:
        ab = load_image(path)
        half = ab.shape[1] // 2
        rows.append([ab[:, :half], load_image(out / path.with_suffix(".png").name), ab[:, half : 2 * half]])
    png = write_gallery(run_dir / "gallery", "val", ["sketch", "generated", "real photo"], rows, title=f"{args.name}: edges2shoes val")
    print(f"gallery: {png} and {png.parent / 'index.html'}")


if __name__ == "__main__":
    main()

"""Sketch to photo: pix2pix on edges2shoes (edges on the left, photo on the right of each A|B file).

    python scripts/sketch2photo.py                        # CPU budget: 128x128, 1500 iterations
    python scripts/sketch2photo.py --size 256 --steps 20000 --batch-size 4
    python scripts/sketch2photo.py --paper                # the paper's setting: 256, batch 4, 5 + 10 epochs
    python scripts/sketch2photo.py --data DIR             # another A|B folder with train/ and val/
    python scripts/sketch2photo.py --photos DIR           # any folder of photos: edges|photo pairs made first

Trains through the same engine as ``translate fit``, converts the sketches of ``val/`` and writes a
gallery (sketch | generated photo | real photo) as one PNG plus an index.html in the run folder. The
gallery's first row is a hand-drawn-style sketch (black strokes on white, drawn here, not an edge map)
converted by the trained run, to show how it does on a sketch a person draws.

The data defaults to ../shared/data/edges2shoes beside the repository when that folder exists.
``--photos DIR`` turns a folder of photos into edges|photo pairs with datasets/make_edges.py (into
RUNS_DIR/NAME-pairs/train and val/; an existing pairs folder is reused) and trains on those.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO.parent / "shared" / "data" / "edges2shoes"


def usage_error(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def hand_drawn_shoe(size: int) -> np.ndarray:
    """A shoe drawn as a person would, in a few black strokes on white (size x size x 3 uint8): a sole, the toe
    and the heel, the opening and three laces. Not an edge map: the strokes are uneven and 2-3 pixels wide."""
    img = Image.new("RGB", (256, 256), "white")
    draw = ImageDraw.Draw(img)
    outline = [(30, 190), (40, 150), (70, 135), (110, 120), (140, 95), (150, 60), (200, 55), (215, 100),
               (222, 160), (225, 195), (180, 200), (100, 202), (45, 200), (30, 190)]
    draw.line(outline, fill="black", width=3, joint="curve")
    draw.line([(35, 180), (120, 185), (224, 182)], fill="black", width=2)  # the sole's upper edge
    draw.line([(150, 60), (170, 75), (200, 55)], fill="black", width=2)  # the opening
    for i in range(3):  # laces across the tongue
        x, y = 112 + 12 * i, 124 - 12 * i
        draw.line([(x - 6, y - 8), (x + 8, y + 6)], fill="black", width=2)
    draw.line([(190, 200), (200, 228), (226, 226), (225, 195)], fill="black", width=3)  # the heel
    return np.asarray(img.resize((size, size), Image.LANCZOS))


def prepare_data(data: Path | None, photos: Path | None, pairs: Path) -> Path:
    """The A|B folder to train on (with train/ and val/): ``data``, or pairs made from ``photos``, or the
    default edges2shoes folder when it exists; exits 2 with one line naming the fix otherwise."""
    if photos is not None:
        if not photos.is_dir():
            usage_error(f"{photos}: folder not found; pass a folder of photos with --photos DIR")
        if not (pairs / "val").is_dir():
            sys.path.insert(0, str(REPO / "datasets"))
            import make_edges

            if make_edges.main([str(photos), str(pairs), "--split", "0.9", "0.1", "0"]) != 0:
                sys.exit(2)
        else:
            print(f"using the edges|photo pairs already in {pairs} (remove it to make them again)")
        data = pairs
    elif data is None:
        if not DEFAULT_DATA.is_dir():
            usage_error(f"no data: the default {DEFAULT_DATA} does not exist; pass --data DIR (a folder with train/ and "
                        f"val/ of edges|photo A|B images, e.g. from datasets/download.py edges2shoes) or --photos DIR")
        data = DEFAULT_DATA
    if not (data / "train").is_dir() or not (data / "val").is_dir():
        usage_error(f"{data}: needs train/ and val/ folders of A|B images (edges left, photo right); "
                    f"pass the edges2shoes folder with --data DIR")
    return data


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, help="folder with train/ and val/ A|B images [../shared/data/edges2shoes when it exists]")
    p.add_argument("--photos", type=Path, help="a folder of photos: make edges|photo pairs of them and train on those")
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

    data = prepare_data(args.data, args.photos, Path(args.runs_dir) / f"{args.name}-pairs")
    train_dir, val_dir = data / "train", data / "val"

    from translate import api
    from translate.cli import _setup_logging
    from translate.data.image_files import list_images, load_image, save_image
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
    save_image(hand_drawn_shoe(size), run_dir / "hand-drawn" / "shoe.png")
    convert_folder(model, run_dir / "hand-drawn", run_dir / "converted-hand-drawn", size=size, overwrite=True)
    rows = [[load_image(run_dir / "hand-drawn" / "shoe.png"), load_image(run_dir / "converted-hand-drawn" / "shoe.png")]]
    for path in list_images(val_dir)[: args.rows]:
        ab = load_image(path)
        half = ab.shape[1] // 2
        rows.append([ab[:, :half], load_image(out / path.with_suffix(".png").name), ab[:, half : 2 * half]])
    png = write_gallery(run_dir / "gallery", "val", ["sketch", "generated", "real photo"], rows, title=f"{args.name}: a hand-drawn sketch, then {data.name}/val")
    print(f"gallery: {png} and {png.parent / 'index.html'}")


if __name__ == "__main__":
    main()

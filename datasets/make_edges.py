"""Turn a folder of photos into edges|photo pairs (A|B, the edges2shoes format) for pix2pix sketch -> photo.

    python datasets/make_edges.py PHOTOS OUT                        # OUT/NAME.png = edges|photo, 256x256 each
    python datasets/make_edges.py PHOTOS OUT --split 0.9 0.1 0 --seed 0   # OUT/train, OUT/val (and OUT/test)
    python datasets/make_edges.py PHOTOS OUT --size 128 --fit crop  # center crop instead of a square resize

Each photo is brought to SIZE x SIZE (--fit resize: squashed to a square, the whole object kept, as pix2pix's
own loading does; --fit crop: the largest centred square, then resized, no distortion but the sides are cut),
then kornia's Canny runs on its grayscale (Gaussian sigma --sigma, hysteresis thresholds --low/--high on the
gradient magnitude of a [0, 1] image: high enough that product-shot textures and the soft shading of a white
background give no edges, low enough that outlines stay joined). A 3x3 closing joins broken strokes, a
skeleton thins them back to one pixel, and line pieces spanning under --min-pixels (dots, eyelet loops) are dropped; the result is
inverted to black lines on white, like the edges2shoes sketches. Those were made with HED (a trained edge
network) plus post-processing; HED's weights are not available offline, so this Canny pipeline is a stand-in:
it gives the outline and the main inner lines, with fewer of HED's long smooth contours.
Every output is written atomically: a stopped run leaves each file complete or absent.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence


sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (UsageError, check_fractions, check_out, counts, require_dir, require_images,  # noqa: E402
                     run, side_by_side, split_names)

from translate.data.edges import DEFAULTS, drop_specks, edges_of, fit_square, hysteresis, thin  # noqa: E402,F401
from translate.data.image_files import load_image, save_image  # noqa: E402
from translate.errors import ImageError  # noqa: E402



def make_edges(photos: Path, out: Path, size: int = DEFAULTS["size"], fit: str = DEFAULTS["fit"],
               split: Sequence[float] | None = None, seed: int = 0, low: float = DEFAULTS["low"],
               high: float = DEFAULTS["high"], sigma: float = DEFAULTS["sigma"],
               min_pixels: int = DEFAULTS["min_pixels"], log=print) -> list[Path]:
    """Write OUT/[split/]NAME.png = edges|photo (each SIZE x SIZE) for every photo; unreadable photos are
    reported and skipped. Returns the written files."""
    photos = require_dir(photos, "photos", "pass a folder of photos (JPEG, PNG, ...)")
    out = check_out(out, photos)
    split = check_fractions(split)
    if size < 16:
        raise UsageError(f"--size {size}: too small for edges; use 16 or more (256 as edges2shoes)")
    if not 0 <= low <= high:
        raise UsageError(f"--low {low} --high {high}: need 0 <= low <= high (e.g. --low 0.12 --high 0.3)")
    files = require_images(photos, "pass a folder of photos")
    where = split_names([f.stem for f in files], split, seed) if split else {}
    written, skipped = [], []
    for path in files:
        try:
            photo = fit_square(load_image(path), size, fit)
        except ImageError as exc:
            skipped.append(str(exc))
            continue
        target = out / where.get(path.stem, "") / f"{path.stem}.png"
        save_image(side_by_side(edges_of(photo, low, high, sigma, min_pixels), photo), target)
        written.append(target)
    for line in skipped:
        log(f"skipped: {line}")
    log(f"wrote {len(written)} edges|photo pairs ({size}x{size} each) into {out}"
        + (f" ({counts(where[p.stem] for p in written)})" if split else ""))
    return written


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="make_edges.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("photos", type=Path, metavar="PHOTOS", help="folder of photos")
    p.add_argument("out", type=Path, metavar="OUT", help="output folder of edges|photo images")
    p.add_argument("--size", type=int, default=DEFAULTS["size"], help="side of each half [256]")
    p.add_argument("--fit", choices=["resize", "crop"], default=DEFAULTS["fit"], help="square resize or centre crop [resize]")
    p.add_argument("--split", type=float, nargs=3, metavar=("TRAIN", "VAL", "TEST"), help="fractions for OUT/train val test")
    p.add_argument("--seed", type=int, default=0, help="the shuffle of the split [0]")
    p.add_argument("--low", type=float, default=DEFAULTS["low"], help="Canny low threshold [0.12]")
    p.add_argument("--high", type=float, default=DEFAULTS["high"], help="Canny high threshold [0.3]")
    p.add_argument("--sigma", type=float, default=DEFAULTS["sigma"], help="Canny Gaussian sigma in pixels [2.0]")
    p.add_argument("--min-pixels", type=int, default=DEFAULTS["min_pixels"], help="drop line pieces whose bounding box is under this many pixels [12]")
    return p


def _main(argv: Sequence[str] | None) -> None:
    a = build_parser().parse_args(argv)
    make_edges(a.photos, a.out, a.size, a.fit, a.split, a.seed, a.low, a.high, a.sigma, a.min_pixels)


def main(argv: Sequence[str] | None = None) -> int:
    return run(_main, argv)


if __name__ == "__main__":
    sys.exit(main())

"""Combine folders A/ and B/ with matching file names into A|B side-by-side images (the pix2pix format; what
the official combine_A_and_B.py does), optionally split into train/val/test; or split a folder of files.

    python datasets/make_pairs.py A_DIR B_DIR OUT                          # OUT/NAME.png = A|B for each name
    python datasets/make_pairs.py A_DIR B_DIR OUT --split 0.8 0.1 0.1 --seed 0   # OUT/train val test
    python datasets/make_pairs.py split FOLDER OUT --split 0.8 0.1 0.1      # copy a folder's images into OUT/train val test

Names match by stem, whatever the extension (A/1.jpg pairs with B/1.png); a name without a partner is an error
naming the file. B is resized to A's size where they differ (the count is reported). When A_DIR holds no
images but train/ val/ test/ sub-folders (and B_DIR the same), each is combined into OUT/train, OUT/val, OUT/test.
Every output is written atomically: a stopped run leaves each file complete or absent; run it again to finish.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (SPLITS, UsageError, check_fractions, check_out, copy_file, counts, require_dir,  # noqa: E402
                     require_images, resize, run, side_by_side, split_names)

from translate.data.image_files import list_images, load_image, save_image  # noqa: E402


def _by_stem(folder: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in list_images(folder):
        if path.stem in found:
            raise UsageError(f"{path}: two images named '{path.stem}' ({found[path.stem].name} and {path.name}); "
                             f"rename or remove one so each name has one partner")
        found[path.stem] = path
    return found


def pair_files(a_dir: Path, b_dir: Path) -> list[tuple[Path, Path]]:
    """(A file, B file) for every name, sorted; a name in only one folder is a UsageError naming it."""
    a, b = _by_stem(a_dir), _by_stem(b_dir)
    if not a:
        require_images(a_dir, "put the A images there, or pass the right folder")
    for mine, theirs, other_dir in ((a, b, b_dir), (b, a, a_dir)):
        for stem in sorted(mine.keys() - theirs.keys()):
            raise UsageError(f"{mine[stem]} has no partner in {other_dir} (no {other_dir / stem}.* image); "
                             f"add one with the same name (any image extension) or remove {mine[stem].name}")
    return [(a[s], b[s]) for s in sorted(a)]


def combine(a_dir: Path, b_dir: Path, out: Path, split: Sequence[float] | None = None, seed: int = 0,
            ext: str = ".png", log=print) -> dict[str, int]:
    """Write OUT/[split/]NAME.ext = A|B for every matched name. Returns {"written": n, "resized": n}."""
    a_dir = require_dir(a_dir, "A images", "pass the folder of A images first")
    b_dir = require_dir(b_dir, "B images", "pass the folder of B images second")
    out = check_out(out, a_dir, b_dir)
    split = check_fractions(split)
    subsets = [s for s in SPLITS if (a_dir / s).is_dir()] if not list_images(a_dir) else []
    if subsets and split:
        raise UsageError(f"{a_dir} is already split into {'/ '.join(subsets)}/; leave out --split")
    jobs: list[tuple[Path, Path, Path]] = []  # (A file, B file, output folder)
    for sub in subsets or [""]:
        if sub:
            require_dir(b_dir / sub, f"the B images of {sub}/", f"B needs the same {'/ '.join(subsets)}/ folders as A")
        pairs = pair_files(a_dir / sub, b_dir / sub)
        where = split_names([a.stem for a, _ in pairs], split, seed) if split else {}
        jobs += [(a, b, out / sub / where.get(a.stem, "")) for a, b in pairs]
    resized = []
    for a_path, b_path, folder in jobs:
        a, b = load_image(a_path), load_image(b_path)
        if a.shape[:2] != b.shape[:2]:
            resized.append(f"{b_path} {b.shape[1]}x{b.shape[0]} -> {a.shape[1]}x{a.shape[0]}")
            b = resize(b, a.shape[1], a.shape[0])
        save_image(side_by_side(a, b), folder / f"{a_path.stem}{ext}")
    if resized:
        log(f"note: {len(resized)} B image(s) differ in size from their A partner and were resized to A's size "
            f"(first: {resized[0]})")
    log(f"wrote {len(jobs)} A|B images into {out}" + (f" ({counts(f.name for _, _, f in jobs)})" if split else ""))
    return {"written": len(jobs), "resized": len(resized)}


def split_folder(folder: Path, out: Path, split: Sequence[float], seed: int = 0, log=print) -> dict[str, str]:
    """Copy each image of ``folder`` into OUT/train, OUT/val or OUT/test (reproducible for a seed)."""
    folder = require_dir(folder, "images to split", "pass the folder whose images go into train/ val/ test/")
    out = check_out(out, folder)
    split = check_fractions(split)
    if split is None:
        raise UsageError("split needs --split TRAIN VAL TEST (e.g. --split 0.8 0.1 0.1)")
    files = require_images(folder, "pass a folder of images")
    where = split_names([f.name for f in files], split, seed)
    for f in files:
        copy_file(f, out / where[f.name] / f.name)
    log(f"copied {len(files)} images into {out} ({counts(where.values())})")
    return where


def _split_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--split", type=float, nargs=3, metavar=("TRAIN", "VAL", "TEST"),
                   help="fractions for OUT/train, OUT/val, OUT/test (e.g. 0.8 0.1 0.1)")
    p.add_argument("--seed", type=int, default=0, help="the shuffle of the split [0]")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="make_pairs.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("a_dir", type=Path, metavar="A_DIR", help="folder of A images (the left half)")
    p.add_argument("b_dir", type=Path, metavar="B_DIR", help="folder of B images with the same names (the right half)")
    p.add_argument("out", type=Path, metavar="OUT", help="output folder of A|B images")
    p.add_argument("--ext", default="png", choices=["png", "jpg"], help="output format [png: lossless]")
    _split_options(p)
    return p


def build_split_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="make_pairs.py split", description="Copy the images of FOLDER into OUT/train, OUT/val and OUT/test.")
    p.add_argument("folder", type=Path, metavar="FOLDER")
    p.add_argument("out", type=Path, metavar="OUT")
    _split_options(p)
    return p


def _main(argv: Sequence[str] | None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["split"]:
        args = build_split_parser().parse_args(argv[1:])
        split_folder(args.folder, args.out, args.split, args.seed)
    else:
        args = build_parser().parse_args(argv)
        combine(args.a_dir, args.b_dir, args.out, args.split, args.seed, f".{args.ext}")


def main(argv: Sequence[str] | None = None) -> int:
    return run(_main, argv)


if __name__ == "__main__":
    sys.exit(main())

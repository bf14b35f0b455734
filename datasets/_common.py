"""What the data tools share: one-line usage errors (exit 2), reproducible train/val/test splits, A|B sheets
and atomic copies. Imported by the scripts beside it; not a tool itself."""

from __future__ import annotations

import random
import shutil
import sys
from pathlib import Path
from typing import Callable, Sequence

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as `python datasets/NAME.py` without installing the package
    sys.path.insert(0, str(REPO))

from translate.data.image_files import list_images  # noqa: E402
from translate.files import atomic_write  # noqa: E402

SPLITS = ("train", "val", "test")


class UsageError(Exception):
    """Bad input: printed as one line ``error: ...`` naming the file and the fix; the tool exits 2."""


class Failure(Exception):
    """The work failed although the input was right (the network, a damaged download): one line, exit 1."""


def run(main: Callable[[Sequence[str] | None], None], argv: Sequence[str] | None) -> int:
    """Call ``main(argv)``; a UsageError becomes one line on stderr and exit code 2, a Failure exit code 1."""
    try:
        main(argv)
    except (UsageError, Failure) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, UsageError) else 1
    return 0


def require_dir(path: Path, what: str, fix: str) -> Path:
    path = Path(path).expanduser()
    if not path.is_dir():
        raise UsageError(f"{path}: {'not a folder' if path.exists() else 'folder not found'} ({what}); {fix}")
    return path


def require_images(folder: Path, fix: str) -> list[Path]:
    files = list_images(folder)
    if not files:
        raise UsageError(f"{folder}: no images in this folder (JPEG, PNG, ...); {fix}")
    return files


def check_out(out: Path, *inputs: Path) -> Path:
    """The output folder may be neither an input folder nor inside one (it would read its own outputs)."""
    out = Path(out).expanduser()
    for src in inputs:
        if out.resolve() == src.resolve() or src.resolve() in out.resolve().parents:
            raise UsageError(f"{out}: the output folder is {src} or inside it; choose a folder outside the inputs")
    return out


def check_fractions(fractions: Sequence[float] | None) -> tuple[float, float, float] | None:
    if fractions is None:
        return None
    if len(fractions) != 3 or min(fractions) < 0 or abs(sum(fractions) - 1) > 1e-6:
        raise UsageError(f"--split {' '.join(map(str, fractions))}: give three fractions for train val test, "
                         f"each >= 0, that add up to 1 (e.g. --split 0.8 0.1 0.1)")
    return tuple(fractions)


def split_names(names: Sequence[str], fractions: Sequence[float], seed: int = 0) -> dict[str, str]:
    """{name: "train"|"val"|"test"}: the sorted names shuffled by ``seed``; val and test get round(n * f)
    each (at least one when their fraction is above 0 and train keeps one) and train the rest, so the same
    names, fractions and seed always give the same split."""
    order = sorted(names)
    random.Random(seed).shuffle(order)
    parts: list[str] = []
    for split, f in zip(SPLITS[1:], fractions[1:]):
        want = max(1, round(len(order) * f)) if f > 0 else 0
        parts += [split] * min(want, len(order) - 1 - len(parts))
    return {name: parts[i] if i < len(parts) else "train" for i, name in enumerate(order)}


def resize(arr: np.ndarray, width: int, height: int) -> np.ndarray:
    """Area averaging when shrinking, bicubic when growing."""
    if arr.shape[1] == width and arr.shape[0] == height:
        return arr
    shrink = width * height < arr.shape[0] * arr.shape[1]
    return cv2.resize(arr, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)


def side_by_side(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """A|B: ``a`` on the left, ``b`` (already the same size) on the right."""
    return np.ascontiguousarray(np.concatenate([a, b], axis=1))


def copy_file(src: Path, dst: Path) -> None:
    with open(src, "rb") as fh:
        atomic_write(dst, lambda out: shutil.copyfileobj(fh, out))


def counts(parts: Sequence[str]) -> str:
    """"train 8, val 1, test 1" from the split each file went to."""
    parts = list(parts)
    return ", ".join(f"{s} {parts.count(s)}" for s in SPLITS)

"""Finding the samples of a dataset folder and validating its layout. Errors name the file and the fix."""

from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from translate.data.image_files import IMAGE_EXTS, image_size, list_images, scan_images
from translate.errors import ArgumentError, ImageError, UserError

EXTS = ", ".join(IMAGE_EXTS)


@dataclass
class Layout:
    kind: str  # "paired A|B" | "paired A/ B/" | "unpaired" | "labelled" | "images"
    root: Path
    items: list = field(default_factory=list)  # per kind: Path, (Path, Path), (Path, label)
    domains: dict[str, list[Path]] = field(default_factory=dict)  # unpaired: {"A": [...], "B": [...]}
    class_names: tuple[str, ...] = ()
    problems: list = field(default_factory=list)  # entries that cannot be read (broken links, no permission, ...)

    def files(self) -> list[Path]:
        if self.domains:
            return [p for files in self.domains.values() for p in files]
        return [x for item in self.items for x in (item if isinstance(item, tuple) else (item,)) if isinstance(x, Path)]

    def describe(self) -> str:
        if self.domains:
            return f"{self.kind}: " + ", ".join(f"{k} {len(v)} images" for k, v in self.domains.items())
        return f"{self.kind}: {len(self.items)} samples"

    def without(self, bad: set[Path]) -> Layout:
        """The layout less the samples that hold a file of ``bad`` (a pair loses both halves)."""
        def keep(item) -> bool:
            return not any(x in bad for x in (item if isinstance(item, tuple) else (item,)) if isinstance(x, Path))

        return dataclasses.replace(self, items=[i for i in self.items if keep(i)],
                                   domains={k: [p for p in v if p not in bad] for k, v in self.domains.items()})


def readable(layout: Layout, report=lambda problem: None, workers: int = 8) -> Layout:
    """``layout`` less the files whose header cannot be read (not an image, an unknown format) or, for A|B
    pairs, whose shape is not a pair's, each one given to ``report``; an error where no sample is left."""
    def problem(path: Path) -> ImageError | None:
        try:
            size = image_size(path)
        except ImageError as exc:
            return exc
        return ab_problem(path, *size) if layout.kind == "paired A|B" else None

    files = layout.files()
    with ThreadPoolExecutor(workers) as pool:
        found = dict(zip(files, pool.map(problem, files)))
    bad = {path for path, exc in found.items() if exc is not None}
    for path in sorted(bad):
        report(found[path])
    left = layout.without(bad)
    empty = [k for k, v in left.domains.items() if not v] if left.domains else ([] if left.items else ["all"])
    if bad and empty:
        where = f"domain {', '.join(empty)} of " if left.domains else ""
        raise UserError(f"{layout.root}: no readable images left in {where}the data ({len(bad)} of {len(files)} files cannot be "
                        f"read, listed above); replace or remove them")
    return left


def require_dir(root: Path, what: str) -> Path:
    root = Path(root).expanduser()
    if not root.exists():
        raise UserError(f"{root}: folder not found; pass the folder that holds your {what}")
    if not root.is_dir():
        raise UserError(f"{root}: not a folder; pass the folder that holds your {what}")
    return root


def train_subfolder(root: Path, note) -> Path:
    """``facades/`` holding ``train/`` and ``val/`` means ``facades/train``."""
    if not list_images(root) and (root / "train").is_dir():
        note(f"{root} holds no images itself: using {root / 'train'}")
        return root / "train"
    return root


UNPAIRED_NAMES = ("trainA", "trainB", "testA", "testB")


def ab_problem(path: Path, width: int, height: int) -> ImageError | None:
    """Why an image cannot be an A|B pair (A and B side by side, each as wide as the image is tall), or None."""
    if width % 2 or width != 2 * height:
        return ImageError(f"{path}: {width}x{height} is not an A|B pair (A|B images are twice as wide as tall, "
                          f"A on the left, B on the right); fix or remove the file")
    return None


def _refuse_unpaired(root: Path, files: list[Path], probe: int = 24) -> None:
    """Pairs are refused where a folder looks like unpaired data: domain folders, or images that are
    mostly not twice as wide as tall (e.g. square photos)."""
    if any((root / name).is_dir() for name in UNPAIRED_NAMES):
        raise ArgumentError(f"{root} holds trainA/ and trainB/ (unpaired data), not pairs; pass it as {{layout=unpaired}}",
                            "layout=unpaired")
    if root.name in UNPAIRED_NAMES:
        raise ArgumentError(f"{root} is one domain of unpaired data, not pairs; pass its parent (the folder holding "
                            f"trainA/ and trainB/) as {{layout=unpaired}}", "layout=unpaired")
    sample = files[:: max(1, len(files) // probe)][:probe]
    sizes = []
    for path in sample:
        try:
            sizes.append(image_size(path))
        except ImageError:
            continue  # unreadable files are reported where they are loaded
    wrong = [(w, h) for w, h in sizes if w != 2 * h]
    if sizes and len(wrong) > len(sizes) // 2:
        w, h = wrong[0]
        raise ArgumentError(f"{root}: {len(wrong)} of {len(sizes)} images looked at are not A|B pairs (e.g. {w}x{h}; an A|B "
                            f"image is twice as wide as tall, A on the left, B on the right). Unpaired domains go in "
                            f"trainA/ and trainB/ under a folder passed as {{layout=unpaired}}; pairs kept as separate "
                            f"files go in A/ and B/ with the same names", "layout=unpaired")


def find_paired(root: Path, note=lambda msg: None) -> Layout:
    """A/ + B/ matched by file name (extension ignored), or A|B images side by side."""
    root = train_subfolder(require_dir(root, "paired images"), note)
    a_dir, b_dir = root / "A", root / "B"
    if a_dir.is_dir() or b_dir.is_dir():
        if not (a_dir.is_dir() and b_dir.is_dir()):
            missing = b_dir if a_dir.is_dir() else a_dir
            raise UserError(f"{missing}: folder missing; paired folders need both A/ and B/ with matching file names")
        (a_list, a_bad), (b_list, b_bad) = scan_images(a_dir, recursive=True), scan_images(b_dir, recursive=True)
        a_files = {p.relative_to(a_dir).with_suffix(""): p for p in a_list}
        b_files = {p.relative_to(b_dir).with_suffix(""): p for p in b_list}
        if not a_files:
            raise UserError(f"{a_dir}: no images found (looked for {EXTS}); put the input images there")
        for key, path in a_files.items():
            if key not in b_files:
                raise UserError(f"{path}: no partner in {b_dir} (expected {b_dir / key}.*); add it or remove this file")
        for key, path in b_files.items():
            if key not in a_files:
                raise UserError(f"{path}: no partner in {a_dir} (expected {a_dir / key}.*); add it or remove this file")
        return Layout("paired A/ B/", root, [(a_files[k], b_files[k]) for k in sorted(a_files)], problems=a_bad + b_bad)
    files, problems = scan_images(root, recursive=True)
    if not files:
        raise UserError(f"{root}: no images found (looked for {EXTS}); put A|B side-by-side images there, or A/ and B/ folders")
    _refuse_unpaired(root, files)
    return Layout("paired A|B", root, files, problems=problems)


def find_images(root: Path, note=lambda msg: None) -> Layout:
    root = require_dir(root, "images")
    files, problems = scan_images(root, recursive=True)
    if not files:
        raise UserError(f"{root}: no images found (looked for {EXTS}); put images there or in sub-folders")
    return Layout("images", root, files, problems=problems)


def detect(root: Path) -> str:
    """Guess the layout of a folder: unpaired, paired (A/ B/ or A|B 2:1 images), labelled or images."""
    root = require_dir(root, "dataset")
    if (root / "trainA").is_dir() or (root / "trainB").is_dir():
        return "unpaired"
    if (root / "A").is_dir() or (root / "B").is_dir():
        return "paired"
    top = list_images(root)
    if not top and (root / "train").is_dir():
        return detect(root / "train")
    subdirs = [d for d in sorted(root.iterdir()) if d.is_dir() and not d.name.startswith(".")]
    if not top and len([d for d in subdirs if list_images(d, recursive=True)]) >= 2:
        return "labelled"
    sample = top[:: max(1, len(top) // 20)][:20]
    wide = 0
    for p in sample:
        try:
            w, h = image_size(p)
            wide += w == 2 * h
        except Exception:  # noqa: BLE001 - unreadable files are reported by check
            pass
    return "paired" if sample and wide >= 0.8 * len(sample) else "images"

"""Unpaired data: ``trainA/`` and ``trainB/`` (optionally ``testA/`` ``testB/``), sampled independently.

As in the official CycleGAN code, an epoch is as long as the larger domain; image ``index`` of the
epoch takes A[index % len(A)] and a random B. The random B (and each image's crop and flip) is drawn
from the sample's seed, itself a function of (run seed, key = epoch * len + index): every epoch pairs
each A with a different B, and a resumed run sees exactly the samples the straight run would have.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from PIL import Image

from translate.config import DataConfig
from translate.data.datasets import KeyedDataset, sample_seed, set_channels
from translate.data.image_files import load_image, scan_images, to_tensor_range
from translate.data.layouts import EXTS, Layout, detect, require_dir
from translate.data.transforms import Preprocess
from translate.errors import ArgumentError, ArgumentWarning, UserError
from translate.types import DataInfo

GRAY_MODES = ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F")


def find_unpaired(root: Path, note=lambda msg: None, split: str = "train") -> Layout:
    """``root/trainA`` and ``root/trainB``, each holding at least one image (sub-folders included)."""
    root = require_dir(root, "unpaired images (trainA/ and trainB/)")
    domains, problems = {}, []
    for d in ("A", "B"):
        folder = root / f"{split}{d}"
        if not folder.is_dir():
            if root.name in (f"{split}A", f"{split}B"):
                raise UserError(f"{root} is one domain's folder; pass its parent, the folder holding {split}A/ and {split}B/")
            other = root / f"{split}{'B' if d == 'A' else 'A'}"
            if not other.is_dir() and split == "train" and detect(root) == "paired":
                kind = "A/ and B/ with the same file names" if (root / "A").is_dir() else "A|B images side by side"
                raise ArgumentError(f"{root} holds pairs ({kind}), not unpaired data (trainA/ and trainB/); pass it as "
                                    f"{{layout=paired}}", "layout=paired")
            has = f"it has {other.name}/ but " if other.is_dir() else ""
            raise UserError(f"{folder}: folder missing; {has}unpaired data needs both {split}A/ and {split}B/ "
                            f"(one folder of images per domain) under {root}")
        files, bad = scan_images(folder, recursive=True)
        problems += bad
        if not files:
            raise UserError(f"{folder}: no images found (looked for {EXTS}); put the domain-{d} images there")
        domains[d] = files
    if len(domains["A"]) != len(domains["B"]):
        note(f"domains differ in size (A {len(domains['A'])}, B {len(domains['B'])}): an epoch is "
             f"{max(len(v) for v in domains.values())} samples, each with a random partner from the other domain")
    return Layout("unpaired", root, domains=domains, problems=problems)


def looks_gray(files: list[Path], probe: int = 8) -> bool:
    """True if the first ``probe`` readable files are all single-channel images."""
    seen = 0
    for path in files[:probe]:
        try:
            with Image.open(path) as img:
                if img.mode not in GRAY_MODES:
                    return False
                seen += 1
        except Exception:  # noqa: BLE001 - unreadable files are reported when loaded
            continue
    return seen > 0


class UnpairedDataset(KeyedDataset):
    """Samples ``{"A", "B", "path_A", "path_B"}``; ``data.direction=BtoA`` swaps the domains."""

    def __init__(self, layout: Layout, cfg: DataConfig, seed: int):
        a, b = layout.domains["A"], layout.domains["B"]
        if cfg.direction == "BtoA":
            a, b = b, a
        super().__init__(max(len(a), len(b)), seed)
        self.files = {"A": a, "B": b}
        self.cfg, self.layout = cfg, layout
        self.channels = {"A": cfg.input_nc, "B": cfg.output_nc}
        for d, arg in (("A", "input_nc"), ("B", "output_nc")):
            if self.channels[d] not in (1, 3):
                raise ArgumentError(f"{{{arg}}} must be 1 (grayscale) or 3 (RGB), not {self.channels[d]}", arg)
            if self.channels[d] == 3 and looks_gray(self.files[d]):
                warnings.warn(ArgumentWarning(f"domain {d} looks grayscale; it is trained as 3 equal channels "
                                              f"(pass {{{arg}}}=1 for one channel)", arg), stacklevel=2)
        self.pre = {train: {d: Preprocess(cfg, train, names=(d,)) for d in "AB"} for train in (True, False)}
        self.info = DataInfo(input_nc=cfg.input_nc, output_nc=cfg.output_nc, size=cfg.crop_size)

    def partner(self, index: int, seed: int, train: bool) -> int:
        """The B image for sample ``index``: random in training (from the sample seed), fixed otherwise."""
        n_b = len(self.files["B"])
        return sample_seed(seed, index, stream=2) % n_b if train else index % n_b

    def load(self, index, seed, train):
        picks = {"A": index % len(self.files["A"]), "B": self.partner(index, seed, train)}
        out = {}
        for i, d in enumerate("AB"):
            path = self.files[d][picks[d]]
            arr = set_channels(load_image(path), self.channels[d])
            # A and B get their own crop and flip, as the official code transforms them independently
            arr = self.pre[train][d](sample_seed(seed, i, stream=3), **{d: arr})[d]
            out[d], out[f"path_{d}"] = to_tensor_range(arr), str(path)
        return out


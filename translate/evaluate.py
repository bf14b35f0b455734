"""``translate evaluate``: how good a run's outputs are.

- paired runs: PSNR and SSIM (kornia; images in [0, 1], 11-tap Gaussian window) and mean absolute error
  per image against the targets of a held-out folder, written to ``RUN/eval/<folder>.csv``, plus FID/KID of
  the outputs against the targets;
- unpaired runs: FID/KID of each direction's outputs (testA -> B) against the other domain's real images;
- unconditional and labelled runs: FID/KID of samples against a folder of real images;
- two folders: FID/KID of one against the other.

Every result is also written as JSON (``RUN/eval/<name>.json``). FID/KID come from ``translate.metrics``.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import torch

from translate import sampling
from translate.data.datasets import PairedDataset
from translate.data.image_files import scan_images
from translate.data.layouts import find_paired
from translate.errors import UserError
from translate.files import atomic_write_text
from translate.metrics import fid_kid, folder_batches, paired_scores, to_uint8
from translate.models.base import Sampler

SCORES = ("psnr", "ssim", "l1")


def _write_json(run_dir: Path, name: str, result: dict) -> Path:
    path = Path(run_dir) / "eval" / f"{name}.json"
    atomic_write_text(path, json.dumps({k: v for k, v in result.items() if k not in ("json", "csv")}, indent=1, default=str))
    return path


def _images(folder: Path) -> list[Path]:
    files, problems = scan_images(Path(folder), recursive=True)
    if not files:
        raise UserError(f"{folder}: no images found to compare with")
    return files


def evaluate_folders(fake: Path, real: Path, features, out_dir: Path | None = None) -> dict:
    """FID/KID of the images under ``fake`` against those under ``real``."""
    failed: list[str] = []
    scores = fid_kid(folder_batches(_images(real), failed), folder_batches(_images(fake), failed), features)
    result = {"kind": "folders", "fake": str(fake), "real": str(real), **scores, "failed": failed}
    if out_dir is not None:
        result["json"] = _write_json(out_dir, f"{Path(fake).name}_vs_{Path(real).name}", result)
    return result


@torch.no_grad()
def evaluate_unpaired(model, folder: Path, run_dir: Path, features, split: str = "test") -> dict:
    """FID/KID of each direction: ``split``A converted to B against the real ``split``B, and back."""
    folder = Path(folder)
    device = next(model.parameters()).device
    failed: list[str] = []
    out = {"kind": "unpaired", "folder": str(folder), "failed": failed}
    for direction, src, dst in (("AtoB", "A", "B"), ("BtoA", "B", "A")):
        src_files, real_files = _images(folder / f"{split}{src}"), _images(folder / f"{split}{dst}")
        channels = model.input_channels(direction)

        def outputs():
            for batch in folder_batches(src_files, failed):
                x = batch.float().div(127.5).sub(1)
                x = x.mean(1, keepdim=True) if channels == 1 else x
                yield to_uint8(model.translate(x.to(device), direction))

        out[direction] = fid_kid(folder_batches(real_files, failed), outputs(), features)
    out["json"] = _write_json(run_dir, f"{folder.name}_{split}", out)
    return out


@torch.no_grad()
def evaluate_samples(model, real: Path, run_dir: Path, features, n: int | None = None, seed: int = 0, batch: int = 16) -> dict:
    """FID/KID of ``n`` samples (default: as many as there are real images, at most 2000) against ``real``."""
    if not isinstance(model, Sampler):
        raise UserError(f"model '{model.name}' translates images; evaluate it against a held-out folder of its own layout")
    real_files = _images(real)
    n = n or min(len(real_files), 2000)
    failed: list[str] = []

    def samples():
        for start in range(0, n, batch):
            images, _ = sampling.draw(model, min(batch, n - start), None, seed + start)
            if images.dim() != 4:
                raise UserError(f"model '{model.name}' draws 2-D points; FID compares images")
            yield to_uint8(images)

    out = {"kind": "samples", "real": str(real), "n": n, **fid_kid(folder_batches(real_files, failed), samples(), features),
           "failed": failed}
    out["json"] = _write_json(run_dir, f"samples_vs_{Path(real).name}", out)
    return out


@torch.no_grad()
def evaluate_paired(model, cfg, folder: Path, run_dir: Path, size: int | None = None, features=None) -> dict:
    """PSNR/SSIM/L1 per image against the targets, and with ``features`` FID/KID of outputs against targets."""
    if model.task != "paired":
        raise UserError(f"evaluate compares outputs with paired targets; model '{model.name}' is {model.task} "
                        f"(convert images with it and look at the outputs)")
    data_cfg = cfg.data.__class__(**{**cfg.data.__dict__, "preprocess": "resize_and_crop" if size else "none",
                                     "load_size": size or cfg.data.load_size, "crop_size": size or cfg.data.crop_size, "flip": False})
    dataset = PairedDataset(find_paired(folder), data_cfg, seed=0)
    rows, failed, fid = paired_scores(model, dataset, features)
    if not rows:
        raise UserError(f"{folder}: no readable pairs to evaluate")
    out = Path(run_dir) / "eval" / f"{Path(folder).name}.csv"
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=["file", *SCORES])
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(out, buf.getvalue())
    summary = {}
    for k in SCORES:
        values = [r[k] for r in rows]
        mean = sum(values) / len(values)
        summary[k] = (mean, math.sqrt(sum((v - mean) ** 2 for v in values) / len(values)))
    result = {"kind": "paired", "folder": str(folder), "n": len(rows), "summary": summary, "csv": out, "failed": failed}
    result.update(fid)
    result["json"] = _write_json(run_dir, Path(folder).name, result)
    return result

"""``translate evaluate``: how close a paired run's outputs are to the targets of a held-out folder.

PSNR and SSIM (kornia; images in [0, 1], 11-tap Gaussian window) and mean absolute error per image,
written to ``RUN/eval/<folder>.csv`` with a mean and standard deviation summary. The run's own data
settings (layout, direction, channels) read the folder, at each image's own size unless ``size`` is given.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import kornia
import torch

from translate.data.datasets import PairedDataset
from translate.data.layouts import find_paired
from translate.errors import ImageError, UserError
from translate.files import atomic_write_text

SCORES = ("psnr", "ssim", "l1")


@torch.no_grad()
def evaluate_paired(model, cfg, folder: Path, run_dir: Path, size: int | None = None) -> dict:
    if model.task != "paired":
        raise UserError(f"evaluate compares outputs with paired targets; model '{model.name}' is {model.task} "
                        f"(convert images with it and look at the outputs)")
    data_cfg = cfg.data.__class__(**{**cfg.data.__dict__, "preprocess": "resize_and_crop" if size else "none",
                                     "load_size": size or cfg.data.load_size, "crop_size": size or cfg.data.crop_size, "flip": False})
    dataset = PairedDataset(find_paired(folder), data_cfg, seed=0)
    device = next(model.parameters()).device
    rows, failed = [], []
    for i in range(len(dataset)):
        try:
            sample = dataset.load(i, 0, False)
        except ImageError as exc:
            failed.append(str(exc))
            continue
        a, b = sample["A"][None].to(device), sample["B"][None].to(device)
        fake = model.translate(a).float().clamp(-1, 1)
        x, y = (fake + 1) / 2, (b + 1) / 2
        rows.append({"file": sample["path"], "psnr": float(kornia.metrics.psnr(x, y, 1.0)),
                     "ssim": float(kornia.metrics.ssim(x, y, 11).mean()), "l1": float((x - y).abs().mean())})
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
    return {"n": len(rows), "summary": summary, "csv": out, "failed": failed}

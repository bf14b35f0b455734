"""The demos of ``translate demo``.

- ``run_demo``: the main job on a small built-in dataset generated on the fly. Draws 64 sketch|picture pairs
  (shapes and their edge maps, the edges2shoes task in miniature), trains pix2pix on them at 64x64 on whatever
  device is available (with half the paper's generator width, ngf 32, and one full state kept, no previous.pt,
  so that its run folder stays small), converts 8 held-out sketches and prints where everything went. A few minutes on a
  laptop CPU; it needs no data and no network.
- ``horse2zebra``: CycleGAN horse -> zebra. With the official pretrained generator (``use_pretrained``, or when
  no data is given and it is cached) it converts the test horses of a horse2zebra folder or the user's
  photos; otherwise it trains on a horse2zebra folder at a CPU-sized budget and converts testA/ and testB/.
  ``model`` cut or fastcut trains that model instead (one way: it converts testA/ only); no official CUT
  generator is registered, so those need data.
- ``sketch2photo``: pix2pix edges -> shoe photo. With the official edges2shoes generator it converts a
  hand-drawn sketch (drawn here), the val/ sketches of an edges2shoes folder or edge sketches of the user's
  photos; otherwise it trains on an edges|photo folder (or on pairs made from the photos) and converts val/.

Each writes a gallery, one PNG grid and an ``index.html``, and returns where it is and what the web page can
serve (a run folder or a pretrained name).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw

from translate import api, pretrained
from translate.data.edges import edges_of, fit_square
from translate.data.image_files import list_images, load_image, save_image
from translate.data.synthetic import make_paired
from translate.errors import ArgumentError, UserError
from translate.inference import ConvertReport, convert_folder
from translate.pictures import write_gallery

DEMOS = ("horse2zebra", "sketch2photo")
ROWS = 8  # rows of a gallery


def run_demo(runs_dir: str | Path = "runs", steps: int = 300, device: str = "auto", progress: bool | None = None) -> dict:
    runs_dir = Path(runs_dir)
    data = runs_dir / "demo-data"
    if not (data / "train").is_dir():
        make_paired(data / "train", n=64, size=64, seed=0)
        make_paired(data / "val", n=8, size=64, seed=1)
    cfg = api.resolve_config({  # half pix2pix's width and one full state: a run folder of about 155 MB, not 1.1 GB
        "model_opts": {"ngf": 32},
        "data": {"layout": "paired", "root": str(data / "train"), "load_size": 72, "crop_size": 64},
        "train": {"steps": steps, "steps_decay": steps // 2, "batch_size": 4, "log_every": 25, "sample_every": 100,
                  "checkpoint_every": 100, "device": device, "keep_previous": False},
        "run": {"name": "demo", "runs_dir": str(runs_dir)},
    })
    result = api.fit(cfg, progress=progress)
    model, _ = api.load_run(result["run_dir"], device=device)
    out = result["run_dir"] / "converted-val"
    report = convert_folder(model, data / "val", out, ab="left")
    return {**result, "converted": out, "convert_report": report}


def _square(arr: np.ndarray, size: int) -> np.ndarray:
    return cv2.resize(arr, (size, size), interpolation=cv2.INTER_AREA) if arr.shape[:2] != (size, size) else arr


def _folder(path: Path | None, name: str) -> Path | None:
    if path is not None and not Path(path).is_dir():
        raise ArgumentError("{%s} {value}: no such folder" % name, name, value=str(path))
    return None if path is None else Path(path).expanduser()


def _use_pretrained(name: str, use: bool, data: Path | None, photos: Path | None, dataset: str, what: str) -> bool:
    """Whether the demo converts with the official generator ``name``: asked for, or no data given and it is
    cached. With neither data nor the file: ArgumentError saying how to get either."""
    if use or (data is None and photos is None and pretrained.is_cached(name)):
        return True
    if data is None and photos is None:
        raise ArgumentError("no data and no cached pretrained generator: pass {data} (" + what + "; python datasets/download.py "
                            + dataset + " fetches it) to train, or {pretrained} to download the official " + name
                            + " generator (about {mb} MB) and convert with it", "data", "pretrained",
                            mb=round(pretrained.entry(name).download_bytes() / 1e6))
    return False


def _convert_rows(model, src: Path, dst: Path, size: int, direction: str = "AtoB", count: int = ROWS):
    """Convert the first ``count`` images of ``src`` at ``size`` into ``dst``; rows of input | output."""
    files = list_images(src)[:count]
    if not files:
        raise UserError(f"{src}: no images to convert")
    report = ConvertReport()
    for f in files:  # only the images the gallery shows, not the whole folder
        one = convert_folder(model, f, dst / f.with_suffix(".png").name, direction=direction, size=size, overwrite=True)
        report.converted, report.seconds = report.converted + one.converted, report.seconds + one.seconds
        report.failed += one.failed
    rows = [[_square(load_image(f), size), load_image(dst / f.with_suffix(".png").name)]
            for f in files if (dst / f.with_suffix(".png").name).is_file()]
    return rows, report


HORSE2ZEBRA_MODELS = ("cyclegan", "cut", "fastcut")


def horse2zebra(runs_dir: str | Path = "runs", data: Path | None = None, photos: Path | None = None,
                use_pretrained: bool = False, steps: int | None = None, size: int | None = None, device: str = "auto",
                progress: bool | None = None, note=print, model: str = "cyclegan") -> dict:
    """Horse -> zebra: the gallery of the official CycleGAN generator or of a run of ``model`` (cyclegan, cut or
    fastcut) trained here (see the module)."""
    if model not in HORSE2ZEBRA_MODELS:
        raise ArgumentError("{model} must be one of {choices} for the horse2zebra demo, not '{value}'", "model",
                            choices=", ".join(HORSE2ZEBRA_MODELS), value=model)
    if model != "cyclegan" and (use_pretrained or photos is not None):
        raise ArgumentError(f"no official pretrained {model} generator is registered (only CycleGAN's): leave out "
                            f"{{pretrained}} and {{photos}} and pass {{data}} to train {model} here", "pretrained", "photos", "data")
    runs_dir, data, photos = Path(runs_dir), _folder(data, "data"), _folder(photos, "photos")
    name = "horse2zebra"
    if model != "cyclegan" and data is None:
        raise ArgumentError(f"{{data}} is needed to train {model} (a folder with trainA/ trainB/ testA/: python "
                            "datasets/download.py horse2zebra); no official pretrained generator is registered for it", "data")
    if model == "cyclegan" and photos is not None or _use_pretrained(name, use_pretrained, data, photos, name, "a folder with trainA/ trainB/ testA/"):
        src = photos or (data / "testA" if data is not None and (data / "testA").is_dir() else data)
        if src is None:
            raise ArgumentError("the pretrained horse2zebra generator converts horse photos: pass {photos} (a folder of "
                                "your photos) or {data} (a horse2zebra folder: python datasets/download.py horse2zebra)",
                                "photos", "data")
        e = pretrained.entry(name)
        model, cfg = api.load_run(name, device=device)
        out = runs_dir / f"{name}-pretrained"
        rows, report = _convert_rows(model, src, out / "converted", e.size)
        note(f"AtoB: converted {report.converted} images of {src} with the pretrained {name} generator, {len(report.failed)} failed")
        png = write_gallery(out / "gallery", "gallery", ["horse", "zebra"], rows, title=f"pretrained {name}: {src.name}/ at {e.size}x{e.size}")
        return {"gallery": png, "index": png.parent / "index.html", "serve": name}
    for sub in ("trainA", "trainB", "testA"):
        if not (data / sub).is_dir():
            raise ArgumentError("{data} {value}: no " + sub + "/ there; pass a horse2zebra folder (trainA/ trainB/ testA/ testB/: "
                                "python datasets/download.py horse2zebra)", "data", value=str(data))
    size, steps = size or 64, steps or 1500
    cfg = api.resolve_config({
        "model": model,
        "data": {"layout": "unpaired", "root": str(data), "load_size": round(size * 286 / 256), "crop_size": size},
        "train": {"steps": steps, "steps_decay": steps // 2, "device": device, "log_every": 25,
                  "sample_every": 250, "checkpoint_every": 250},
        "run": {"name": name if model == "cyclegan" else f"{name}-{model}", "runs_dir": str(runs_dir)},
        "model_opts": {"ngf": 32},
    })
    result = api.fit(cfg, progress=progress)
    run_dir = Path(result["run_dir"])
    model, _ = api.load_run(run_dir, device=device)
    rows = []
    for direction, folder in (("AtoB", "testA"), ("BtoA", "testB")):
        if (data / folder).is_dir() and direction in model.directions:
            more, report = _convert_rows(model, data / folder, run_dir / "gallery" / folder, size, direction, ROWS // 2)
            note(f"{direction}: converted {report.converted} images of {data / folder}, {len(report.failed)} failed")
            rows += more
    shown = "testA/ (horse -> zebra) and testB/ (zebra -> horse)" if len(model.directions) > 1 else "testA/ (horse -> zebra)"
    png = write_gallery(run_dir / "gallery", "gallery", ["input", "output"], rows, title=f"{run_dir.name}: {shown} at {size}x{size}")
    return {**result, "gallery": png, "index": png.parent / "index.html", "serve": run_dir}


def hand_drawn_shoe(size: int) -> np.ndarray:
    """A shoe drawn as a person would, in a few black strokes on white (size x size x 3 uint8): a sole, the toe
    and the heel, the opening and three laces. Not an edge map: the strokes are uneven and 2-3 pixels wide."""
    img = Image.new("RGB", (256, 256), "white")
    draw = ImageDraw.Draw(img)
    outline = [(30, 190), (40, 150), (70, 135), (110, 120), (140, 95), (150, 60), (200, 55), (215, 100),
               (222, 160), (225, 195), (180, 200), (100, 202), (45, 200), (30, 190)]
    draw.line(outline, fill="black", width=3, joint="curve")
    draw.line([(35, 180), (120, 185), (224, 182)], fill="black", width=2)  # the sole's upper edge
    draw.line([(150, 60), (170, 75), (200, 55)], fill="black", width=2)  # the opening
    for i in range(3):  # laces across the tongue
        x, y = 112 + 12 * i, 124 - 12 * i
        draw.line([(x - 6, y - 8), (x + 8, y + 6)], fill="black", width=2)
    draw.line([(190, 200), (200, 228), (226, 226), (225, 195)], fill="black", width=3)  # the heel
    return np.asarray(img.resize((size, size), Image.LANCZOS))


def photo_pairs(photos: Path, out: Path, size: int = 256) -> Path:
    """edges|photo A|B files of a folder of photos in ``out/train`` and ``out/val`` (every tenth photo, at
    least one), each half ``size`` x ``size``; an existing ``out/val`` is reused."""
    if (out / "val").is_dir():
        return out
    files = list_images(photos)
    if len(files) < 2:
        raise ArgumentError("{photos} {value}: needs at least 2 photos", "photos", value=str(photos))
    for i, path in enumerate(files):
        photo = fit_square(load_image(path), size)
        split = "val" if i % 10 == 9 or (i == len(files) - 1 and len(files) < 10) else "train"
        save_image(np.concatenate([edges_of(photo), photo], 1), out / split / f"{path.stem}.png")
    return out


def _sketches(sketches: Path, size: int, data: Path | None, photos: Path | None) -> list[np.ndarray | None]:
    """Write the sketches to convert into ``sketches`` (a hand-drawn one first); the real photo of each, or None."""
    save_image(hand_drawn_shoe(size), sketches / "0-hand-drawn.png")
    real: list[np.ndarray | None] = [None]
    if photos is not None:
        for path in list_images(photos)[: ROWS - 1]:
            photo = fit_square(load_image(path), size)
            save_image(edges_of(photo), sketches / f"{path.stem}.png")
            real.append(photo)
    elif data is not None:
        for path in list_images(data / "val" if (data / "val").is_dir() else data)[: ROWS - 1]:
            ab = load_image(path)
            half = ab.shape[1] // 2
            save_image(_square(ab[:, :half], size), sketches / f"{path.stem}.png")
            real.append(_square(ab[:, half : 2 * half], size))
    return real


def sketch2photo(runs_dir: str | Path = "runs", data: Path | None = None, photos: Path | None = None,
                 use_pretrained: bool = False, steps: int | None = None, size: int | None = None, device: str = "auto",
                 progress: bool | None = None, note=print) -> dict:
    """pix2pix edges -> shoe photo: the gallery of the official edges2shoes generator or of a run trained here."""
    runs_dir, data, photos = Path(runs_dir), _folder(data, "data"), _folder(photos, "photos")
    if data is not None and photos is not None:
        raise ArgumentError("pass {photos} or {data}, not both", "photos", "data")
    name = "edges2shoes"
    if _use_pretrained(name, use_pretrained, data, photos, name, "an edges2shoes folder with train/ and val/"):
        size = pretrained.entry(name).size
        model, cfg = api.load_run(name, device=device)
        out = runs_dir / "sketch2photo-pretrained"
        title = f"pretrained {name}: a hand-drawn sketch" + (f", then {(photos or data).name}" if photos or data else "")
    else:
        if photos is not None:
            data = photo_pairs(photos, runs_dir / "sketch2photo-pairs")
            note(f"edges|photo pairs of {photos} in {data}")
        if not (data / "train").is_dir() or not (data / "val").is_dir():
            raise ArgumentError("{data} {value}: needs train/ and val/ folders of A|B images (edges left, photo right)",
                                "data", value=str(data))
        size, steps = size or 128, steps or 1500
        cfg = api.resolve_config({"model": "pix2pix", "run": {"name": "sketch2photo", "runs_dir": str(runs_dir)},
                                  "train": {"steps": steps, "steps_decay": steps // 2, "batch_size": 1, "device": device,
                                            "log_every": 50, "sample_every": 250, "checkpoint_every": 500},
                                  "data": {"layout": "paired", "root": str(data / "train"),
                                           "load_size": round(size * 286 / 256), "crop_size": size}})
        result = api.fit(cfg, progress=progress)
        out = Path(result["run_dir"])
        model, cfg = api.load_run(out, device=device)
        name, photos, title = out, None, f"{out.name}: a hand-drawn sketch, then {data.name}/val"
    real = _sketches(out / "sketches", size, data, photos)
    report = convert_folder(model, out / "sketches", out / "generated", size=size, overwrite=True)
    note(f"converted {report.converted} sketches into {out / 'generated'}, {len(report.failed)} failed")
    files = list_images(out / "sketches")
    rows = [[load_image(f), load_image(out / "generated" / f.name)] + ([r] if r is not None else [])
            for f, r in zip(files, real) if (out / "generated" / f.name).is_file()]
    columns = ["sketch", "generated"] + (["real photo"] if len(real) > 1 else [])
    png = write_gallery(out / "gallery", "gallery", columns, rows, title=title)
    return {"gallery": png, "index": png.parent / "index.html", "serve": name}

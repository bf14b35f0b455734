"""Reading and writing image files: EXIF orientation, every Pillow mode, 16-bit; writes are atomic."""

from __future__ import annotations

import errno
import io
import os
import threading
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from translate.errors import ImageError, ImageTooLargeError
from translate.files import atomic_write_bytes

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm", ".gif")
# Pillow's decompression-bomb limit (about 89 megapixels): larger images are refused before they are decoded
MAX_PIXELS = Image.MAX_IMAGE_PIXELS
_PIL_LIMIT = threading.Lock()


def is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTS and not path.name.startswith(".")


def _entry_problem(path: Path) -> ImageError | None:
    """Why an entry with an image name cannot be read (a broken or looping link, no permission), or None."""
    if path.is_symlink():
        try:
            path.stat()
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                return ImageError(f"{path}: symbolic link loop (the link points back at itself); remove the link")
            return ImageError(f"{path}: broken symbolic link (its target {os.readlink(path)} does not exist); remove the link")
    if not os.access(path, os.R_OK):
        return ImageError(f"{path}: permission denied (the file cannot be read); fix its permissions or remove it")
    return None


def scan_images(folder: Path, recursive: bool = False) -> tuple[list[Path], list[ImageError]]:
    """(image files under ``folder``, sorted; the entries with an image name that cannot be read).
    Hidden files and folders are left out; linked folders are not followed, so a link loop cannot hang it."""
    folder = Path(folder)
    files: list[Path] = []
    problems: list[ImageError] = []

    def unlistable(exc: OSError) -> None:
        problems.append(ImageError(f"{exc.filename}: folder cannot be read ({exc.strerror}); fix its permissions"))

    walk = os.walk(folder, onerror=unlistable) if recursive else [(str(folder), [], [e.name for e in os.scandir(folder)])]
    for root, dirs, names in walk:
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in names:
            path = Path(root) / name
            if not is_image(path) or path.is_dir():
                continue
            problem = _entry_problem(path)
            if problem:
                problem.path = path
                problems.append(problem)
            elif path.is_file():
                files.append(path)
    return sorted(files), problems


def list_images(folder: Path, recursive: bool = False) -> list[Path]:
    return scan_images(folder, recursive)[0]


def _to_8bit(img: Image.Image) -> Image.Image:
    """16-bit and 32-bit integer or float images scaled to 8 bits by their nominal range."""
    arr = np.asarray(img)
    if img.mode == "F":
        arr = arr * 255.0 if np.nanmax(arr) <= 1.0 else arr
    elif arr.dtype != np.uint8 and np.max(arr) > 255:
        arr = arr / 257.0  # 16-bit range 0..65535 -> 0..255
    return Image.fromarray(np.clip(np.nan_to_num(arr), 0, 255).astype(np.uint8), "L")


def flatten_alpha(img: Image.Image) -> Image.Image:
    """Transparent pixels become white (the usual background for sketches and product shots)."""
    rgba = img.convert("RGBA")
    background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(background, rgba).convert("RGB")


def load_image(path: Path, channels: int = 3, max_pixels: int | None = MAX_PIXELS) -> np.ndarray:
    """An H x W x channels uint8 array. Raises ImageError naming the file and what is wrong for anything
    unreadable: empty, not an image, truncated, too small, or over ``max_pixels`` (None: no limit)."""
    path = Path(path)
    try:
        if path.stat().st_size == 0:
            raise ImageError(f"{path}: empty file (0 bytes); replace or remove the file")
        with _open(path) as img:
            w, h = img.size
            if max_pixels is not None and w * h > max_pixels:
                raise ImageTooLargeError(f"{path}: {w}x{h} is {w * h / 1e6:.0f} megapixels, over the limit of "
                                         f"{max_pixels / 1e6:.0f}; raise {{max_pixels}} to read it", "max_pixels")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                img.load()  # decode now, so a truncated file fails here
            img = ImageOps.exif_transpose(img)
            if img.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
                img = _to_8bit(img)
            elif img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
                img = flatten_alpha(img)
            img = img.convert("RGB" if channels == 3 else "L")
            arr = np.asarray(img, dtype=np.uint8)
    except ImageError:
        raise
    except FileNotFoundError:
        raise ImageError(f"{path}: file not found") from None
    except PermissionError:
        raise ImageError(f"{path}: permission denied (the file cannot be read); fix its permissions or remove it") from None
    except UnidentifiedImageError:
        raise ImageError(f"{path}: not an image{_looks_like_text(path)}; replace or remove the file") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError, MemoryError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
        raise ImageError(f"{path}: cannot read image ({reason}); replace or remove the file") from None
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.shape[0] < 2 or arr.shape[1] < 2:
        raise ImageError(f"{path}: image is {arr.shape[1]}x{arr.shape[0]} pixels, too small to use; remove the file")
    return arr


def _open(path: Path) -> Image.Image:
    """Image.open reading the header only; the pixel limit is checked by the caller (``max_pixels``)."""
    with _PIL_LIMIT, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pillow's DecompressionBomb warning
        saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
        try:
            return Image.open(path)
        finally:
            Image.MAX_IMAGE_PIXELS = saved


def _looks_like_text(path: Path) -> str:
    try:
        head = path.read_bytes()[:256]
    except OSError:
        return ""
    if head.lstrip().lower().startswith((b"<!doctype", b"<html", b"<?xml", b"<")):
        return " (it holds HTML or XML text, e.g. a web page saved under an image name)"
    if head and all(32 <= c < 127 or c in (9, 10, 13) for c in head):
        return " (it holds text)"
    return " (Pillow cannot identify its format)"


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) after EXIF orientation, read from the header only."""
    try:
        with _open(path) as img:
            w, h = img.size
            orientation = img.getexif().get(0x0112, 1)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"{path}: cannot read image ({str(exc).splitlines()[0] if str(exc) else 'unknown format'}); replace or remove the file") from None
    return (h, w) if orientation in (5, 6, 7, 8) else (w, h)


def save_image(arr: np.ndarray, path: Path) -> None:
    """Write an H x W x C uint8 array atomically, in the format its extension names. It is encoded in memory
    first, so a full disk is reported with the exact size the file needs."""
    path = Path(path)
    fmt = Image.registered_extensions().get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"{path}: no image format has the extension '{path.suffix}'")
    img = Image.fromarray(arr[:, :, 0] if arr.ndim == 3 and arr.shape[2] == 1 else arr)
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    atomic_write_bytes(path, buf.getvalue())


def to_tensor_range(arr: np.ndarray):
    """uint8 H x W x C -> float32 C x H x W in [-1, 1]."""
    return torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1))).float().div_(127.5).sub_(1.0)


def to_uint8(t) -> np.ndarray:
    """float C x H x W in [-1, 1] -> uint8 H x W x C."""
    return t.detach().float().clamp(-1, 1).add(1).mul(127.5).round().byte().permute(1, 2, 0).cpu().numpy()

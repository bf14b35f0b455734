"""Reading and writing image files: EXIF orientation, every Pillow mode, 16-bit; writes are atomic."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from translate.errors import ImageError
from translate.files import atomic_write

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm", ".gif")


def is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTS and not path.name.startswith(".")


def list_images(folder: Path, recursive: bool = False) -> list[Path]:
    folder = Path(folder)
    found = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(p for p in found if p.is_file() and is_image(p) and not any(s.startswith(".") for s in p.relative_to(folder).parts))


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


def load_image(path: Path, channels: int = 3) -> np.ndarray:
    """An H x W x channels uint8 array. Raises ImageError naming the file for anything unreadable."""
    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. Pillow's DecompressionBomb or palette warnings
            with Image.open(path) as img:
                img.load()  # decode now, so a truncated file fails here
                img = ImageOps.exif_transpose(img)
                if img.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
                    img = _to_8bit(img)
                elif img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
                    img = flatten_alpha(img)
                img = img.convert("RGB" if channels == 3 else "L")
                arr = np.asarray(img, dtype=np.uint8)
    except FileNotFoundError:
        raise ImageError(f"{path}: file not found") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
        raise ImageError(f"{path}: cannot read image ({reason}); replace or remove the file") from None
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.shape[0] < 2 or arr.shape[1] < 2:
        raise ImageError(f"{path}: image is {arr.shape[1]}x{arr.shape[0]} pixels, too small to use; remove the file")
    return arr


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) after EXIF orientation, read from the header only."""
    try:
        with Image.open(path) as img:
            w, h = img.size
            orientation = img.getexif().get(0x0112, 1)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"{path}: cannot read image ({str(exc).splitlines()[0] if str(exc) else 'unknown format'}); replace or remove the file") from None
    return (h, w) if orientation in (5, 6, 7, 8) else (w, h)


def save_image(arr: np.ndarray, path: Path) -> None:
    """Write an H x W x C uint8 array atomically, in the format its extension names."""
    path = Path(path)
    fmt = Image.registered_extensions().get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"{path}: no image format has the extension '{path.suffix}'")
    img = Image.fromarray(arr[:, :, 0] if arr.ndim == 3 and arr.shape[2] == 1 else arr)
    atomic_write(path, lambda fh: img.save(fh, format=fmt))


def to_tensor_range(arr: np.ndarray):
    """uint8 H x W x C -> float32 C x H x W in [-1, 1]."""
    return torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1))).float().div_(127.5).sub_(1.0)


def to_uint8(t) -> np.ndarray:
    """float C x H x W in [-1, 1] -> uint8 H x W x C."""
    return t.detach().float().clamp(-1, 1).add(1).mul(127.5).round().byte().permute(1, 2, 0).cpu().numpy()

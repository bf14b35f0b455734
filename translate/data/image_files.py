"""Reading and writing image files: EXIF orientation, every Pillow mode, 16-bit; writes are atomic."""

from __future__ import annotations

import errno
import io
import os
import threading
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from translate.errors import ImageError, ImageTooLargeError
from translate.files import atomic_write_bytes

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm", ".gif")
# Pillow's decompression-bomb limit (about 89 megapixels): larger images are refused before they are decoded
MAX_PIXELS = Image.MAX_IMAGE_PIXELS
# the formats that hold 16 bits per channel (grayscale through Pillow, colour through OpenCV)
DEPTH16_EXTS = (".png", ".tif", ".tiff")
_INT_MODES = ("I", "I;16", "I;16B", "I;16L", "I;16N")
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


def load_image(path: Path, channels: int = 3, max_pixels: int | None = MAX_PIXELS, keep_depth: bool = False) -> np.ndarray:
    """An H x W x channels uint8 array; with ``keep_depth``, a uint16 array where the file holds 16 bits per
    channel (16-bit grayscale or colour PNG/TIFF), so nothing is lost before the model sees it. Raises
    ImageError naming the file and what is wrong for anything unreadable: empty, not an image, truncated,
    too small, or over ``max_pixels`` (None: no limit)."""
    path = Path(path)
    try:
        if path.stat().st_size == 0:
            raise ImageError(f"{path}: empty file (0 bytes); replace or remove the file")
        with _open(path) as img:
            w, h = img.size
            if max_pixels is not None and w * h > max_pixels:
                raise ImageTooLargeError(f"{path}: {w}x{h} is {w * h / 1e6:.0f} megapixels, over the limit of "
                                         f"{max_pixels / 1e6:.0f}; raise {{max_pixels}} to read it", "max_pixels")
            if keep_depth and _is_16bit_colour(img):
                arr = _read_16bit_colour(path, channels)
            else:
                img.load()  # decode now, so a truncated file fails here
                arr = image_array(ImageOps.exif_transpose(img), channels, keep_depth)
    except ImageError:
        raise
    except FileNotFoundError:
        raise ImageError(f"{path}: file not found") from None
    except PermissionError:
        raise ImageError(f"{path}: permission denied (the file cannot be read); fix its permissions or remove it") from None
    except UnidentifiedImageError:
        raise ImageError(f"{path}: not an image{_looks_like_text(path)}; replace or remove the file") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError, MemoryError, cv2.error) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        raise ImageError(f"{path}: cannot read image ({reason}); replace or remove the file") from None
    if arr.shape[0] < 2 or arr.shape[1] < 2:
        raise ImageError(f"{path}: image is {arr.shape[1]}x{arr.shape[0]} pixels, too small to use; remove the file")
    return arr


def image_array(img: Image.Image, channels: int = 3, keep_depth: bool = False) -> np.ndarray:
    """A decoded Pillow image as an H x W x channels array: uint8, or uint16 for a 16-bit grayscale image with
    ``keep_depth``. Transparency is flattened onto white; 32-bit and float images are scaled to 8 bits."""
    if keep_depth and img.mode in _INT_MODES and (img.mode != "I" or np.max(np.asarray(img)) > 255):
        arr = np.clip(np.asarray(img), 0, 65535).astype(np.uint16)[:, :, None]
        return np.repeat(arr, channels, axis=2) if channels == 3 else arr
    if img.mode in (*_INT_MODES, "F"):
        img = _to_8bit(img)
    elif img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        img = flatten_alpha(img)
    arr = np.array(img.convert("RGB" if channels == 3 else "L"), dtype=np.uint8)  # writable, as torch wants
    return arr[:, :, None] if arr.ndim == 2 else arr


def _is_16bit_colour(img: Image.Image) -> bool:
    """Pillow reads 16-bit colour PNG/TIFF as 8-bit RGB; its raw mode tells the file's depth."""
    return (img.format in ("PNG", "TIFF") and img.mode in ("RGB", "RGBA")
            and any(";16" in str(t.args) for t in getattr(img, "tile", None) or ()))


def _read_16bit_colour(path: Path, channels: int) -> np.ndarray:
    """A 16-bit colour file read with OpenCV: RGB (alpha flattened onto white), uint16."""
    arr = cv2.imdecode(np.frombuffer(path.read_bytes(), np.uint8), cv2.IMREAD_UNCHANGED)
    if arr is None or arr.dtype != np.uint16 or arr.ndim != 3:
        raise ImageError(f"{path}: cannot read its 16-bit colour; replace or remove the file")
    rgb = cv2.cvtColor(arr, cv2.COLOR_BGRA2RGBA if arr.shape[2] == 4 else cv2.COLOR_BGR2RGB)
    if rgb.shape[2] == 4:
        alpha = rgb[:, :, 3:].astype(np.float32) / 65535.0
        rgb = np.round(rgb[:, :, :3] * alpha + 65535.0 * (1 - alpha)).astype(np.uint16)
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)[:, :, None] if channels == 1 else rgb


def _open(path: Path) -> Image.Image:
    """Image.open reading the header only; the pixel limit is checked by the caller (``max_pixels``), so Pillow's
    own check is off while it opens (no DecompressionBomb error or warning). This runs in reader threads, which
    must not touch the warning filters: ``warnings.catch_warnings`` is not thread-safe, and two threads entering
    and leaving it at once leave one's filters installed for the whole process (an 'ignore' that hid every later
    warning)."""
    with _PIL_LIMIT:
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


def save_image(arr: np.ndarray, path: Path, png_level: int | None = None) -> None:
    """Write an H x W x C uint8 or uint16 array atomically, in the format its extension names (uint16: PNG or
    TIFF; one channel through Pillow's I;16, colour through OpenCV). It is encoded in memory first, so a full
    disk is reported with the exact size the file needs. ``png_level``: zlib's compression level 0-9 of a PNG
    (lossless at every level; None: Pillow's 6, OpenCV's 1)."""
    path = Path(path)
    suffix = path.suffix.lower()
    fmt = Image.registered_extensions().get(suffix)
    if fmt is None:
        raise ValueError(f"{path}: no image format has the extension '{path.suffix}'")
    gray = arr[:, :, 0] if arr.ndim == 3 and arr.shape[2] == 1 else arr
    if arr.dtype == np.uint16:
        if suffix not in DEPTH16_EXTS:
            raise ValueError(f"{path}: {path.suffix} cannot hold 16 bits per channel; write .png or .tif")
        if gray.ndim == 3:
            params = [cv2.IMWRITE_PNG_COMPRESSION, png_level] if png_level is not None and suffix == ".png" else []
            ok, data = cv2.imencode(suffix, cv2.cvtColor(np.ascontiguousarray(gray), cv2.COLOR_RGB2BGR), params)
            if not ok:
                raise ValueError(f"{path}: OpenCV cannot encode a 16-bit {path.suffix} image")
            atomic_write_bytes(path, data.tobytes())
            return
    img = Image.fromarray(gray)
    buf = io.BytesIO()
    img.save(buf, format=fmt, **({"compress_level": png_level} if png_level is not None and fmt == "PNG" else {}))
    atomic_write_bytes(path, buf.getvalue())


def to_tensor_range(arr: np.ndarray):
    """uint8 or uint16 H x W x C -> float32 C x H x W in [-1, 1], at the array's full precision."""
    half = 32767.5 if arr.dtype == np.uint16 else 127.5
    return torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1))).float().div_(half).sub_(1.0)


def resize(arr: np.ndarray, height: int, width: int) -> np.ndarray:
    """An H x W x C uint8 or uint16 array resized to ``height`` x ``width`` with Pillow's bicubic filter (which
    widens its support when shrinking, so it also antialiases): the resize of the official pix2pix/CycleGAN
    code (``transforms.Resize(..., BICUBIC)`` on a PIL image), so runs with its settings see its pixels. 8-bit
    images go through Pillow as they are; 16-bit ones channel by channel in 32-bit float, rounded back."""
    if arr.shape[:2] == (height, width):
        return arr
    if arr.dtype == np.uint8:
        img = Image.fromarray(arr[:, :, 0] if arr.shape[2] == 1 else arr)
        out = np.asarray(img.resize((width, height), Image.BICUBIC))
    else:
        top = float(np.iinfo(arr.dtype).max)
        chans = [np.asarray(Image.fromarray(arr[:, :, c].astype(np.float32), "F").resize((width, height), Image.BICUBIC))
                 for c in range(arr.shape[2])]
        out = np.clip(np.rint(np.stack(chans, 2)), 0, top).astype(arr.dtype)
    return out[:, :, None] if out.ndim == 2 else out


def to_depth(t, depth: int = 8) -> np.ndarray:
    """float C x H x W in [-1, 1] -> H x W x C uint8 (``depth`` 8) or uint16 (``depth`` 16)."""
    top, dtype = (65535.0, np.uint16) if depth == 16 else (255.0, np.uint8)
    out = t.detach().float().clamp(-1, 1).add(1).mul(top / 2).round().permute(1, 2, 0).cpu().numpy()
    return out.astype(dtype)


def to_uint8(t) -> np.ndarray:
    """float C x H x W in [-1, 1] -> uint8 H x W x C."""
    return to_depth(t, 8)

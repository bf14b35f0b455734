"""Atomic writes and safe loads: a killed process never leaves a half-written file, and loading a
checkpoint never runs code from it (``weights_only=True``)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from translate.errors import UserError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def temp_beside(path: Path, suffix: str) -> tuple[int, str]:
    """A temporary file in ``path``'s folder with the permissions a plain open() would give
    (mkstemp makes them private)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=suffix, dir=path.parent)
    os.chmod(tmp, 0o666 & ~_umask())
    return fd, tmp


def atomic_write(path: Path, write) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = temp_beside(path, ".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda fh: fh.write(text.encode()))


def atomic_save(obj: Any, path: Path) -> None:
    atomic_write(path, lambda fh: torch.save(obj, fh))


def safe_load(path: Path, map_location="cpu") -> Any:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: file not found")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any failure here means the file is unusable
        raise UserError(f"{path}: cannot load ({str(exc).splitlines()[0][:200]}); the file is damaged or not a translate checkpoint") from None


def link_or_copy(src: Path, dst: Path) -> None:
    """Atomically make ``dst`` the same file as ``src`` (a hard link where possible)."""
    tmp = dst.with_name(f".{dst.name}.link")
    tmp.unlink(missing_ok=True)
    try:
        os.link(src, tmp)
    except OSError:
        import shutil

        shutil.copyfile(src, tmp)
    os.replace(tmp, dst)

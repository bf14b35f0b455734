"""File safety: atomic writes (a killed process never leaves a half-written file) and safe loads
(loading a checkpoint never runs code from it: ``weights_only=True``).

Part of the ground floor: it imports nothing of the project but its errors.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, BinaryIO, Callable, Container

import torch

from translate.errors import DiskFullError, UserError

DISK_FULL = {errno.ENOSPC: "no space left on the disk", errno.EDQUOT: "disk quota exceeded"}


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: Path, write: Callable[[BinaryIO], Any], size: int | None = None) -> None:
    """Call ``write(fh)`` on a temporary file beside ``path``, then move it over ``path`` in one step.
    The file gets the permissions a plain open() would give (mkstemp makes them private). A full disk
    (or quota) raises DiskFullError saying how much the file needs (``size``, the bytes it will hold where
    known, or at least what was written) and how much is free; the previous ``path`` stays as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp", dir=path.parent)
        os.chmod(tmp, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        if exc.errno not in DISK_FULL:
            raise
        written = _remove(tmp)
        raise DiskFullError(path, DISK_FULL[exc.errno], max(size or 0, written), shutil.disk_usage(path.parent).free,
                            kept=path.exists()) from None
    except BaseException:
        _remove(tmp)
        raise


def _remove(tmp: str | None) -> int:
    """Delete the temporary file of a failed write; return how many bytes it held."""
    if tmp is None:
        return 0
    try:
        written = os.path.getsize(tmp)
    except OSError:
        written = 0
    Path(tmp).unlink(missing_ok=True)
    return written


def atomic_write_bytes(path: Path, data: bytes) -> None:
    atomic_write(path, lambda fh: fh.write(data), len(data))


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def tensor_bytes(obj: Any) -> int:
    """Bytes of the tensors in a nest of dicts, lists and tuples (each storage once): about what torch.save writes."""
    seen: dict[int, int] = {}
    todo = [obj]
    while todo:
        item = todo.pop()
        if isinstance(item, torch.Tensor):
            storage = item.untyped_storage()
            seen[storage.data_ptr()] = storage.nbytes()
        elif isinstance(item, dict):
            todo.extend(item.values())
        elif isinstance(item, (list, tuple)):
            todo.extend(item)
    return sum(seen.values())


def atomic_save(obj: Any, path: Path) -> None:
    atomic_write(path, lambda fh: torch.save(obj, fh), tensor_bytes(obj))


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
        shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


def remove_stale_temps(folder: Path, stems: Container[str] | None = None) -> int:
    """Delete the temporary files ``atomic_write`` left in ``folder`` (not below it) when its process was
    killed mid-write (``.{stem}.XXXXXXXX.tmp``): those of targets with these ``stems``, or all of them.
    Only for a folder no other process is writing to at the moment. Returns how many were removed."""
    try:
        entries = list(os.scandir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return 0
    removed = 0
    for entry in entries:
        stem, _, tag = entry.name[1:-4].rpartition(".")
        if (entry.name.startswith(".") and entry.name.endswith(".tmp") and stem and len(tag) == 8
                and (stems is None or stem in stems) and entry.is_file(follow_symlinks=False)):
            Path(entry.path).unlink(missing_ok=True)
            removed += 1
    return removed

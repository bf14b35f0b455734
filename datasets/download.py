"""Download a standard public dataset from its official location and unpack it where `translate fit` reads it.

    python datasets/download.py facades                 # -> data/facades/{train,val,test}: A|B images
    python datasets/download.py horse2zebra --to ~/data # -> ~/data/horse2zebra/{trainA,trainB,testA,testB}
    python datasets/download.py --list                  # every known name, its URL and layout
    python datasets/download.py NAME --url URL          # the same archive from another place (a mirror)

pix2pix datasets come as NAME.tar.gz (train/ val/ [test/] of A|B images), CycleGAN's as NAME.zip (trainA/
trainB/ testA/ testB/). The download goes to TO/NAME.part with a progress bar; an interrupted download resumes
from there with an HTTP Range request when the command is run again. A complete download is checked (its size
against the server's, and its SHA-256 where one is recorded or given with --sha256), renamed to the archive
name in one step, read through completely (every member, CRCs of zip members), checked for unsafe members
(absolute paths, "..", links and devices are refused) and the expected folders, unpacked into a hidden folder
and renamed to TO/NAME only when all is well: a failure never leaves a half-unpacked dataset. The environment
variable TRANSLATE_DATASETS_MIRROR replaces the official host (http://efrosgans.eecs.berkeley.edu) for every name.
Exit codes: 0 done (or already there), 1 the download or the archive failed, 2 bad usage.
"""

from __future__ import annotations

import argparse
import difflib
import hashlib
import http.client
import os
import re
import shutil
import sys
import tarfile
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import Sequence
from urllib.error import HTTPError, URLError
from urllib.request import Request, urlopen

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Failure, UsageError, run  # noqa: E402

from translate.data.image_files import list_images  # noqa: E402

HOST = "http://efrosgans.eecs.berkeley.edu"
MIRROR_ENV = "TRANSLATE_DATASETS_MIRROR"
CHUNK = 1 << 16


@dataclass(frozen=True)
class Dataset:
    name: str
    url: str
    folders: tuple[str, ...]  # what the unpacked dataset must hold
    fit: str  # how to train on it
    sha256: str | None = None  # None: not recorded (verified by reading the whole archive and its folders)
    size: int | None = None


def _pix2pix(name: str, folders=("train", "val"), direction: str = "AtoB") -> Dataset:
    return Dataset(name, f"{HOST}/pix2pix/datasets/{name}.tar.gz", folders,
                   f"translate fit --paired {{dest}}/train --direction {direction}")


def _cyclegan(name: str) -> Dataset:
    return Dataset(name, f"{HOST}/cyclegan/datasets/{name}.zip", ("trainA", "trainB", "testA", "testB"),
                   "translate fit --unpaired {dest} --model cyclegan")


# The official archives of the pix2pix and CycleGAN authors. Their checksums are not published, so none is
# recorded here: a download is verified by its size against the server's Content-Length, by reading every
# member of the archive and by the folders it must hold (pass --sha256 to pin one).
DATASETS = {d.name: d for d in [
    _pix2pix("facades", ("train", "val", "test"), direction="BtoA"),  # photo|labels: labels -> photo is BtoA
    _pix2pix("maps"),
    _pix2pix("edges2shoes"),
    _pix2pix("edges2handbags"),
    _pix2pix("night2day", ("train", "val", "test")),
    _cyclegan("horse2zebra"),
    _cyclegan("apple2orange"),
    _cyclegan("summer2winter_yosemite"),
    _cyclegan("monet2photo"),
    _cyclegan("cezanne2photo"),
    _cyclegan("ukiyoe2photo"),
    _cyclegan("vangogh2photo"),
    _cyclegan("iphone2dslr_flower"),
]}
ALIASES = {"summer2winter": "summer2winter_yosemite"}
NOT_REDISTRIBUTED = {
    "cityscapes": "cityscapes is not redistributed (its license does not allow it): register at "
                  "https://www.cityscapes-dataset.com/, download gtFine_trainvaltest.zip and leftImg8bit_trainvaltest.zip, "
                  "then pair the photos with their colour label maps into A|B images (the pix2pix repository's "
                  "datasets/prepare_cityscapes_dataset.py does it; or put them in A/ and B/ and run datasets/make_pairs.py)",
}


def resolve(name: str, url: str | None = None, sha256: str | None = None) -> Dataset:
    """The table's entry for ``name`` (``url``/``sha256`` override it); an unknown name needs ``url``."""
    if name in NOT_REDISTRIBUTED:
        raise UsageError(NOT_REDISTRIBUTED[name])
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
        raise UsageError(f"{name!r}: a dataset name is letters, digits, '_', '.' and '-' (see --list)")
    entry = DATASETS.get(ALIASES.get(name, name))
    if entry is None:
        if not url:
            close = difflib.get_close_matches(name, [*DATASETS, *ALIASES, *NOT_REDISTRIBUTED], n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise UsageError(f"unknown dataset {name!r}{hint}; known: {', '.join(sorted(DATASETS))} (or give its archive with --url URL)")
        entry = Dataset(name, url, (), "translate check {dest}")
    mirror = os.environ.get(MIRROR_ENV)
    if url:
        entry = replace(entry, url=url, size=None)
    elif mirror:
        entry = replace(entry, url=entry.url.replace(HOST, mirror.rstrip("/"), 1))
    if sha256:
        entry = replace(entry, sha256=sha256.lower())
    if not entry.url.startswith(("http://", "https://")):
        raise UsageError(f"--url {entry.url}: give an http:// or https:// address")
    return entry


def archive_suffix(url: str) -> str:
    path = url.split("?")[0].lower()
    for suffix in (".tar.gz", ".tgz", ".tar", ".zip"):
        if path.endswith(suffix):
            return suffix
    raise UsageError(f"{url}: not a .tar.gz, .tgz, .tar or .zip address; give the archive's own URL")


def _progress(total: int | None, done: int, label: str):
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn, TransferSpeedColumn

    console = Console(stderr=True)
    bar = Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                   TimeRemainingColumn(), console=console, disable=not console.is_terminal, transient=False)
    return bar, bar.add_task(label, total=total, completed=done)


def fetch(url: str, part: Path, timeout: float = 30.0, log=print) -> int:
    """Download ``url`` into ``part``, continuing from its current size with a Range request (a server that
    ignores Range sends the whole file again, written afresh). Returns the complete size. An interruption
    raises Failure and keeps ``part`` for the next run."""
    start = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": "translate-datasets/1", "Accept-Encoding": "identity"}
    if start:
        headers["Range"] = f"bytes={start}-"
    try:
        resp = urlopen(Request(url, headers=headers), timeout=timeout)
    except HTTPError as exc:
        if exc.code == 416 and start:  # nothing past what we have: the part is already whole
            exc.close()
            return start
        exc.close()
        raise Failure(f"{url}: HTTP {exc.code} {exc.reason}; check the name or the --url address") from None
    except (URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise Failure(f"{url}: cannot connect ({reason}); check the network, or download from a mirror with --url URL") from None
    with resp:
        length = resp.headers.get("Content-Length")
        if start and resp.status == 206:
            log(f"resuming {part.name} at {start} bytes")
            mode = "ab"
        else:
            start, mode = 0, "wb"
        total = start + int(length) if length is not None else None
        done = start
        bar, task = _progress(total, done, part.name)
        try:
            with bar, open(part, mode) as fh:
                while chunk := resp.read(CHUNK):
                    fh.write(chunk)
                    done += len(chunk)
                    bar.update(task, completed=done)
        except (http.client.HTTPException, OSError) as exc:
            raise Failure(f"download interrupted at {done} of {total or '?'} bytes ({exc.__class__.__name__}); "
                          f"{part} is kept: run the same command again to resume") from None
    if total is not None and done != total:
        raise Failure(f"download interrupted at {done} of {total} bytes; {part} is kept: run the same command again to resume")
    return done


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _unsafe(name: str) -> bool:
    path = PurePosixPath(name.replace("\\", "/"))
    return path.is_absolute() or ".." in path.parts or bool(re.match(r"^[A-Za-z]:", name))


def _members(archive: Path) -> list[tuple[str, bool]]:
    """(name, is_dir) of every member, after reading the whole archive (a truncated or damaged one fails
    here); an unsafe member (absolute path, '..', a link or a device) is refused."""
    try:
        if archive.suffix == ".zip":
            with zipfile.ZipFile(archive) as zf:
                bad = zf.testzip()  # reads every member and checks its CRC
                if bad is not None:
                    raise Failure(f"{archive}: member {bad} is damaged (CRC mismatch)")
                infos = [(i.filename, i.is_dir(), (i.external_attr >> 16) & 0o170000 not in (0, 0o100000, 0o040000)) for i in zf.infolist()]
        else:
            with tarfile.open(archive, "r:*") as tf:
                infos = []
                for m in tf:
                    if m.isfile():
                        with tf.extractfile(m) as fh:
                            while fh.read(1 << 20):
                                pass
                    infos.append((m.name, m.isdir(), not (m.isfile() or m.isdir())))
    except Failure:
        raise
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
        raise Failure(f"{archive}: the archive is damaged or truncated ({exc.__class__.__name__}: {str(exc)[:120]})") from None
    for name, _, special in infos:
        if _unsafe(name) or special:
            why = "a link or device" if special else "a path outside the dataset folder"
            raise Failure(f"{archive}: member {name!r} is {why}; refused, nothing unpacked (the archive is not the official one)")
    if not infos:
        raise Failure(f"{archive}: the archive is empty")
    return [(n, d) for n, d, _ in infos]


def _strip(names: list[str]) -> int:
    """1 when every member sits under one top folder (NAME/train/...), else 0."""
    tops = {PurePosixPath(n.replace("\\", "/")).parts[0] for n in names}
    return 1 if len(tops) == 1 and any(len(PurePosixPath(n).parts) > 1 for n in names) else 0


def extract(archive: Path, dest: Path, folders: Sequence[str]) -> dict[str, int]:
    """Unpack ``archive`` into ``dest`` (its single top folder stripped), all or nothing. Returns the image
    count of each expected folder."""
    members = _members(archive)
    strip = _strip([n for n, _ in members])
    tmp = dest.parent / f".{dest.name}.unpacking"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir(parents=True)
        opened = zipfile.ZipFile(archive) if archive.suffix == ".zip" else tarfile.open(archive, "r:*")
        with opened as arc:
            entries = arc.infolist() if isinstance(arc, zipfile.ZipFile) else arc.getmembers()
            for entry in entries:
                name = entry.filename if isinstance(entry, zipfile.ZipInfo) else entry.name
                parts = PurePosixPath(name.replace("\\", "/")).parts[strip:]
                if not parts:
                    continue
                target = tmp.joinpath(*parts)
                if name.endswith("/") or (isinstance(entry, tarfile.TarInfo) and entry.isdir()):
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                src = arc.open(entry) if isinstance(arc, zipfile.ZipFile) else arc.extractfile(entry)
                with src, open(target, "wb") as out:
                    shutil.copyfileobj(src, out)
        found = {f: len(list_images(tmp / f)) for f in folders if (tmp / f).is_dir()}
        missing = [f for f in folders if not found.get(f)]
        if missing:
            raise Failure(f"{archive}: no images in {', '.join(m + '/' for m in missing)} after unpacking "
                          f"(expected {', '.join(f + '/' for f in folders)}); the archive is not the expected dataset")
        if not folders and not any(p.is_file() for p in tmp.rglob("*")):
            raise Failure(f"{archive}: the archive holds no files")
        os.replace(tmp, dest)
        return found
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def download(name: str, to: Path = Path("data"), url: str | None = None, sha256: str | None = None,
             timeout: float = 30.0, keep_archive: bool = False, log=print) -> Path:
    """Fetch (resuming), verify and unpack dataset ``name`` into ``to/name``; returns that folder."""
    entry = resolve(name, url, sha256)
    to = Path(to).expanduser()
    dest = to / entry.name
    if dest.exists():
        have = [f for f in entry.folders if (dest / f).is_dir()]
        if len(have) == len(entry.folders) and dest.is_dir():
            log(f"{dest} is already there; nothing to do (remove it to download again)")
            return dest
        raise UsageError(f"{dest} exists but is not a complete {entry.name} (it lacks "
                         f"{', '.join(f + '/' for f in entry.folders if f not in have) or 'its folders'}); remove it and run again")
    made = [p for p in (to, *to.parents) if not p.exists()]  # the folders this download makes: removed again if it fails empty
    to.mkdir(parents=True, exist_ok=True)
    try:
        return _fetch_and_unpack(entry, to, dest, timeout, keep_archive, log)
    except Failure:
        for folder in made:
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        raise


def _fetch_and_unpack(entry: Dataset, to: Path, dest: Path, timeout: float, keep_archive: bool, log) -> Path:
    archive = to / f"{entry.name}{archive_suffix(entry.url)}"
    part = to / f"{entry.name}.part"
    if not archive.exists():
        log(f"downloading {entry.url}")
        size = fetch(entry.url, part, timeout, log)
        digest = sha256_of(part)
        if entry.size is not None and size != entry.size:
            part.unlink()
            raise Failure(f"{entry.url}: {size} bytes, expected {entry.size}; removed {part}, run again to download it afresh")
        if entry.sha256 and digest != entry.sha256:
            part.unlink()
            raise Failure(f"{entry.url}: SHA-256 {digest}, expected {entry.sha256}; the download is corrupt: "
                          f"removed {part}, run again to download it afresh")
        os.replace(part, archive)
        log(f"{archive.name}: {size} bytes, SHA-256 {digest}" + (" (matches)" if entry.sha256 else ""))
    try:
        found = extract(archive, dest, entry.folders)
    except Failure as exc:
        archive.unlink(missing_ok=True)
        raise Failure(f"{exc}; removed {archive.name}, run again to download it afresh") from None
    if not keep_archive:
        archive.unlink()
    counts = ", ".join(f"{f} {n}" for f, n in found.items())
    log(f"{entry.name}: ready in {dest}" + (f" ({counts} images; every member read, folders checked)" if counts else ""))
    log(f"train on it with: {entry.fit.format(dest=dest)}")
    return dest


def list_datasets() -> str:
    rows = [f"{d.name:24s} {d.url}  ({'/ '.join(d.folders)}/)" for d in DATASETS.values()]
    rows += [f"{n:24s} not redistributed: run `download.py {n}` for how to get it" for n in NOT_REDISTRIBUTED]
    return "\n".join(rows)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="download.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", nargs="?", metavar="NAME", help="dataset name (see --list)")
    p.add_argument("--to", type=Path, default=Path("data"), help="parent folder; the dataset goes to TO/NAME [data]")
    p.add_argument("--url", help=f"download the archive from this address instead (or set {MIRROR_ENV} to a mirror's host)")
    p.add_argument("--sha256", help="the archive's expected SHA-256; a mismatch removes the download")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds without data before giving up [30]")
    p.add_argument("--keep-archive", action="store_true", help="keep TO/NAME.tar.gz (or .zip) after unpacking")
    p.add_argument("--list", action="store_true", help="list the known datasets and exit")
    return p


def _main(argv: Sequence[str] | None) -> None:
    args = build_parser().parse_args(argv)
    if args.list:
        print(list_datasets())
        return
    if not args.name:
        raise UsageError("give a dataset NAME (see --list), e.g. download.py facades")
    download(args.name, args.to, args.url, args.sha256, args.timeout, args.keep_archive)


def main(argv: Sequence[str] | None = None) -> int:
    return run(_main, argv)


if __name__ == "__main__":
    sys.exit(main())

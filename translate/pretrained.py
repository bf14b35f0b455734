"""The official pretrained generators of pix2pix and CycleGAN by name: the table, the cache, the download and
its check.

The authors publish 18 CycleGAN generators and 5 pix2pix generators (their download scripts,
``scripts/download_cyclegan_model.sh`` and ``download_pix2pix_model.sh``, fetch ``SERVER/cyclegan/pretrained_models/
NAME.pth`` and ``SERVER/pix2pix/models-pytorch/NAME.pth``). CycleGAN's are resnet_9blocks, ngf 64, instance norm,
no dropout; pix2pix's unet_256, ngf 64, batch norm, dropout. Where both publish a name (sat2map, map2sat,
facades_label2photo), the pix2pix one is called ``pix2pix_NAME`` here.

Files go to ``cache_dir()``: ``$TRANSLATE_HOME/pretrained`` when that variable is set, else the platform's user
cache folder (``$XDG_CACHE_HOME/translate/pretrained`` or ``~/.cache/translate/pretrained`` on Linux).
``$TRANSLATE_PRETRAINED_MIRROR`` replaces the authors' server, with the files at the same relative paths.
A download goes to ``NAME.pth.part`` (resumed with an HTTP Range request when interrupted) and becomes
``NAME.pth`` only once complete and loaded, weights-only, as its declared architecture (every tensor name and
shape); a file that does not is removed. No checksum is published, so the sha256 of the file that loaded is
kept beside it (``NAME.pth.sha256``).
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import torch

from translate.errors import ResourceError, UserError
from translate.files import atomic_write_text
from translate.nn import official

log = logging.getLogger("translate")

SERVER = "http://efrosgans.eecs.berkeley.edu"
MIRROR_ENV = "TRANSLATE_PRETRAINED_MIRROR"
HOME_ENV = "TRANSLATE_HOME"
FOLDER = {"cyclegan": "cyclegan/pretrained_models", "pix2pix": "pix2pix/models-pytorch"}
TIMEOUT = 30.0
RETRIES = 2  # an interrupted transfer is resumed this many times in one call


class DownloadError(ResourceError):
    """A pretrained generator could not be fetched (the network, the server) or the file fetched is not
    the generator it should be; nothing incomplete is left under its name."""


@dataclass(frozen=True)
class Entry:
    """One published generator: what it was trained as, on what, and where its file lies."""

    name: str
    model: str  # pix2pix | cyclegan
    direction: str  # what it maps, in words: "horse -> zebra"
    data: str  # what it was trained on
    remote: str = ""  # the file's name on the server without .pth [default: name]
    net_g: str = ""
    ngf: int = 64
    norm: str = ""
    dropout: bool | None = None
    size: int = 256  # the size it was trained at
    reverse: str = ""  # the published generator of the other direction

    def __post_init__(self):
        cyclegan = self.model == "cyclegan"
        defaults = {"remote": self.name, "net_g": "resnet_9blocks" if cyclegan else "unet_256",
                    "norm": "instance" if cyclegan else "batch", "dropout": not cyclegan}
        for key, value in defaults.items():
            if getattr(self, key) in ("", None):
                object.__setattr__(self, key, value)

    @property
    def path(self) -> str:
        """The file's path under the server (or a mirror)."""
        return f"{FOLDER[self.model]}/{self.remote}.pth"

    @property
    def url(self) -> str:
        return f"{os.environ.get(MIRROR_ENV, '').rstrip('/') or SERVER}/{self.path}"

    @property
    def architecture(self) -> str:
        return f"{self.net_g}, ngf {self.ngf}, {self.norm} norm, {'dropout' if self.dropout else 'no dropout'}"

    @property
    def mode(self) -> str:
        """The inference mode the official test.py runs it in, as its README runs it (without --eval)."""
        return "paper" if self.norm == "batch" or self.dropout else "eval"

    def options(self) -> dict:
        return {"net_g": self.net_g, "ngf": self.ngf, "norm": self.norm, "input_nc": 3, "output_nc": 3}

    def shapes(self) -> dict[str, tuple[int, ...]]:
        """Every tensor of the file, official name -> shape, as this architecture holds it (no weights made)."""
        with torch.device("meta"):
            net = official.build(self.net_g, 3, 3, self.ngf, self.norm, self.dropout)
        return {k: tuple(v.shape) for k, v in official.to_official(net.state_dict()).items()}

    def download_bytes(self) -> int:
        """The file's size as this architecture gives it (float32 tensors; the pickle adds a few kB)."""
        return sum(4 * int(torch.Size(s).numel()) for k, s in self.shapes().items() if not k.endswith(official.COUNTER))


def _cyclegan(name: str, direction: str, data: str, reverse: str = "") -> Entry:
    return Entry(name, "cyclegan", direction, data, reverse=reverse)


def _pix2pix(name: str, direction: str, data: str, reverse: str = "", remote: str = "") -> Entry:
    return Entry(name, "pix2pix", direction, data, remote=remote, reverse=reverse)


_ENTRIES = [
    _cyclegan("apple2orange", "apple -> orange", "ImageNet apples and oranges", "orange2apple"),
    _cyclegan("orange2apple", "orange -> apple", "ImageNet apples and oranges", "apple2orange"),
    _cyclegan("summer2winter_yosemite", "summer -> winter", "Flickr photos of Yosemite", "winter2summer_yosemite"),
    _cyclegan("winter2summer_yosemite", "winter -> summer", "Flickr photos of Yosemite", "summer2winter_yosemite"),
    _cyclegan("horse2zebra", "horse -> zebra", "ImageNet horses and zebras", "zebra2horse"),
    _cyclegan("zebra2horse", "zebra -> horse", "ImageNet horses and zebras", "horse2zebra"),
    _cyclegan("monet2photo", "Monet painting -> photo", "Monet paintings and Flickr landscapes", "style_monet"),
    _cyclegan("style_monet", "photo -> Monet painting", "Monet paintings and Flickr landscapes", "monet2photo"),
    _cyclegan("style_cezanne", "photo -> Cezanne painting", "Cezanne paintings and Flickr landscapes"),
    _cyclegan("style_ukiyoe", "photo -> Ukiyo-e print", "Ukiyo-e prints and Flickr landscapes"),
    _cyclegan("style_vangogh", "photo -> Van Gogh painting", "Van Gogh paintings and Flickr landscapes"),
    _cyclegan("sat2map", "aerial photo -> map", "Google Maps around New York", "map2sat"),
    _cyclegan("map2sat", "map -> aerial photo", "Google Maps around New York", "sat2map"),
    _cyclegan("cityscapes_photo2label", "street photo -> label map", "Cityscapes", "cityscapes_label2photo"),
    _cyclegan("cityscapes_label2photo", "label map -> street photo", "Cityscapes", "cityscapes_photo2label"),
    _cyclegan("facades_photo2label", "facade photo -> label map", "CMP Facades", "facades_label2photo"),
    _cyclegan("facades_label2photo", "label map -> facade photo", "CMP Facades", "facades_photo2label"),
    _cyclegan("iphone2dslr_flower", "iPhone photo -> DSLR photo", "Flickr photos of flowers (DSLR: shallow depth of field)"),
    _pix2pix("edges2shoes", "edges -> shoe photo", "UT Zappos50K shoes, HED edges"),
    _pix2pix("pix2pix_sat2map", "aerial photo -> map", "Google Maps around New York", "pix2pix_map2sat", "sat2map"),
    _pix2pix("pix2pix_map2sat", "map -> aerial photo", "Google Maps around New York", "pix2pix_sat2map", "map2sat"),
    _pix2pix("pix2pix_facades_label2photo", "label map -> facade photo", "CMP Facades", "", "facades_label2photo"),
    _pix2pix("day2night", "day -> night", "Transient Attributes webcams"),
]
TABLE: dict[str, Entry] = {e.name: e for e in _ENTRIES}


def names() -> list[str]:
    return list(TABLE)


def known(name: str) -> bool:
    return str(name) in TABLE


def entry(name: str) -> Entry:
    if name not in TABLE:
        raise UserError(f"'{name}' is no pretrained generator; known: {', '.join(TABLE)}")
    return TABLE[name]


def cache_dir() -> Path:
    """``$TRANSLATE_HOME/pretrained``, else the platform's user cache folder."""
    home = os.environ.get(HOME_ENV)
    if home:
        return Path(home).expanduser() / "pretrained"
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local") / "translate" / "Cache"
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches" / "translate"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "translate"
    return base / "pretrained"


def cached_path(name: str) -> Path:
    return cache_dir() / f"{entry(name).name}.pth"


def is_cached(name: str) -> bool:
    return cached_path(name).is_file()


def sha256_of(name: str) -> str | None:
    """The sha256 recorded when the cached file of ``name`` loaded, if any."""
    record = cached_path(name).with_suffix(".pth.sha256")
    return record.read_text().split()[0] if record.is_file() else None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(2**20), b""):
            digest.update(block)
    return digest.hexdigest()


def _by_hand(e: Entry, path: Path) -> str:
    return f"download it by hand to {path}, or set {MIRROR_ENV} to a server holding {e.path}"


def verify(e: Entry, path: Path, url: str) -> str:
    """Load ``path`` weights-only as ``e``'s architecture (every tensor name and shape); its sha256. A file that
    does not load so is removed, with DownloadError."""
    try:
        state = official.read(path)
        official.check(state, path, e.options(), e.dropout)
    except UserError as exc:
        path.unlink(missing_ok=True)
        reason = str(exc).splitlines()[0].replace(f"{path}: ", "")[:240]
        raise DownloadError(f"{url}: not the {e.model} generator {e.name} ({e.architecture}): {reason}; the file was "
                            f"removed; run again to download it anew, or {_by_hand(e, path)}") from None
    return _sha256(path)


def fetch(name: str, progress: bool | None = None, timeout: float = TIMEOUT) -> Path:
    """The cached file of ``name``, downloaded and checked first when it is not in the cache yet."""
    e = entry(name)
    path = cached_path(name)
    record = path.with_suffix(".pth.sha256")
    if path.is_file():
        if not record.is_file():  # placed by hand: check it once
            atomic_write_text(record, f"{verify(e, path, str(path))}  {path.name}\n")
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_suffix(".pth.part")
    url = e.url
    for attempt in range(RETRIES + 1):
        try:
            _transfer(url, part, progress, timeout, f"the pretrained {e.model} generator {name} to {path}")
            break
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            got = part.stat().st_size if part.is_file() else 0
            if isinstance(exc, urllib.error.HTTPError) or not got or attempt == RETRIES:
                if not got:
                    part.unlink(missing_ok=True)
                reason = getattr(exc, "reason", None) or str(exc) or type(exc).__name__
                again = f" ({got} bytes kept in {part.name}: run again to resume)" if got else ""
                raise DownloadError(f"cannot download {url} ({str(reason).splitlines()[0][:120]}){again}; "
                                    f"{_by_hand(e, path)}") from None
            log.info("the transfer stopped after %d bytes; resuming", got)
    sha = verify(e, part, url)
    os.replace(part, path)
    atomic_write_text(record, f"{sha}  {path.name}\n")
    log.info("saved %s (sha256 %s)", path, sha)
    return path


def _transfer(url: str, part: Path, progress: bool | None, timeout: float, what: str) -> None:
    """Fetch ``url`` into ``part``, continuing from the bytes already there when the server takes a Range."""
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

    have = part.stat().st_size if part.is_file() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        resumed = have and response.status == 206
        if have and not resumed:
            have = 0  # the server sent the whole file
        length = response.headers.get("Content-Length")
        total = have + int(length) if length and length.isdigit() else None
        if resumed:
            log.info("resuming %s at byte %d", part.name, have)
        else:
            log.info("downloading %s from %s (%s)", what, url, f"{int(length) / 1e6:.0f} MB" if length and length.isdigit() else "size unknown")
        show = sys.stderr.isatty() if progress is None else progress
        bar = Progress("{task.description}", BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                       console=Console(stderr=True), disable=not show, transient=True)
        with bar, open(part, "ab" if resumed else "wb") as out:
            task = bar.add_task(part.name.removesuffix(".part"), total=total, completed=have)
            while True:
                block = response.read(2**16)
                if not block:
                    break
                out.write(block)
                bar.advance(task, len(block))
    got = part.stat().st_size
    if total is not None and got != total:
        raise http.client.IncompleteRead(b"", total - got)


def listing() -> list[str]:
    """The table of every published generator, a line each, marking those in the cache, and how to use them."""
    lines = [f"{'name':28s} {'model':9s} {'architecture':49s} {'size':>4s}  {'download':>8s}  {'direction':27s} data"]
    for e in TABLE.values():
        cached = "*" if is_cached(e.name) else " "
        lines.append(f"{e.name:28s} {e.model:9s} {e.architecture:49s} {e.size:4d}  {e.download_bytes() / 1e6:5.0f} MB{cached} "
                     f"{e.direction:27s} {e.data}")
    return lines + ["", f"* in the cache, {cache_dir()} (TRANSLATE_HOME sets it). The pix2pix generators whose names "
                    f"CycleGAN also publishes are called pix2pix_NAME. 'translate pretrained NAME' downloads one and describes it; "
                    f"'translate convert NAME IN OUT', serve, export and evaluate take the name where they take a run folder "
                    f"(a folder of that name here wins)."]


def describe(name: str) -> list[str]:
    """What ``name`` is, in lines: model, architecture, size, direction, data, file, mode."""
    e = entry(name)
    path = cached_path(name)
    sha = sha256_of(name)
    lines = [f"{name}: the official {e.model} generator, {e.direction}",
             f"  architecture: {e.architecture} (3 -> 3 channels)",
             f"  trained at:   {e.size}x{e.size}, on {e.data}",
             f"  download:     {e.url} (about {e.download_bytes() / 1e6:.0f} MB)",
             f"  file:         {path}" + ("" if path.is_file() else " (not downloaded)")]
    if sha:
        lines.append(f"  sha256:       {sha} (of the file as it loaded; the authors publish no checksum)")
    if e.mode == "paper":
        lines.append("  mode:         paper by default (each image's own batch-norm statistics and dropout, as the "
                     "official test.py runs it by default, without its eval option); eval gives the running statistics")
    else:
        lines.append("  mode:         eval (instance norm and no dropout: eval and paper give the same output)")
    if e.reverse:
        lines.append(f"  other way:    {e.reverse}")
    return lines

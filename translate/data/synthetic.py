"""Synthetic image datasets drawn with Pillow: the built-in default for the quickstart and the tests."""

from __future__ import annotations

import random
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter


def _shape(draw: ImageDraw.ImageDraw, rng: random.Random, size: int, kind: str, fill, outline=None, width=0) -> None:
    r = rng.randint(size // 6, size // 3)
    cx, cy = rng.randint(r, size - r), rng.randint(r, size - r)
    box = (cx - r, cy - r, cx + r, cy + r)
    if kind == "circle":
        draw.ellipse(box, fill=fill, outline=outline, width=width)
    elif kind == "square":
        draw.rectangle(box, fill=fill, outline=outline, width=width)
    else:
        draw.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=fill, outline=outline, width=width)


def _photo(rng: random.Random, size: int, kinds=("circle", "square", "triangle")) -> Image.Image:
    bg = tuple(rng.randint(150, 255) for _ in range(3))
    img = Image.new("RGB", (size, size), bg)
    draw = ImageDraw.Draw(img)
    for _ in range(rng.randint(1, 3)):
        _shape(draw, rng, size, rng.choice(kinds), tuple(rng.randint(0, 200) for _ in range(3)))
    return img


def make_paired(out: Path, n: int = 64, size: int = 64, seed: int = 0) -> Path:
    """A|B images: a sketch (edges of the shapes, A) beside the coloured picture (B), like edges2shoes."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    for i in range(n):
        photo = _photo(rng, size)
        edges = photo.convert("L").filter(ImageFilter.FIND_EDGES).point(lambda v: 0 if v > 20 else 255).convert("RGB")
        ab = Image.new("RGB", (2 * size, size))
        ab.paste(edges, (0, 0))
        ab.paste(photo, (size, 0))
        ab.save(out / f"{i:04d}.png")
    return out


def make_unpaired(out: Path, n: int = 64, size: int = 64, seed: int = 0) -> Path:
    """trainA/ (circles) and trainB/ (squares), plus small testA/ testB/."""
    out = Path(out)
    rng = random.Random(seed)
    for split, count in (("train", n), ("test", max(2, n // 8))):
        for domain, kind in (("A", "circle"), ("B", "square")):
            folder = out / f"{split}{domain}"
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                _photo(rng, size, (kind,)).save(folder / f"{i:04d}.png")
    return out


def make_labelled(out: Path, n: int = 64, size: int = 64, seed: int = 0) -> Path:
    """One folder per class: circle/, square/, triangle/."""
    out = Path(out)
    rng = random.Random(seed)
    for kind in ("circle", "square", "triangle"):
        folder = out / kind
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(max(1, n // 3)):
            _photo(rng, size, (kind,)).save(folder / f"{i:04d}.png")
    return out


def random_batch(task: str, info, n: int = 2, seed: int = 0) -> dict:
    """A random batch in the form each task's datasets yield: A/B for paired and unpaired data,
    image (+ label) otherwise; vector data (info.dim > 0) gives (n, dim) images."""
    import torch

    g = torch.Generator().manual_seed(seed)

    def img(c):
        shape = (n, info.dim) if info.dim else (n, c, info.size, info.size)
        return torch.rand(*shape, generator=g) * 2 - 1

    if task in ("paired", "unpaired"):
        return {"A": img(info.input_nc), "B": img(info.output_nc)}
    batch = {"image": img(info.output_nc)}
    if task == "labelled" or (info.num_classes and task != "unconditional"):
        batch["label"] = torch.randint(0, max(1, info.num_classes), (n,), generator=g)
    return batch

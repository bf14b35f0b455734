"""Side-by-side galleries (input | output [| target]) as one PNG plus an index.html, written atomically."""

from __future__ import annotations

import html
from pathlib import Path

import cv2
import numpy as np

from translate.data.io import save_image
from translate.engine.io import atomic_write_text


def _fit(tile: np.ndarray, height: int) -> np.ndarray:
    tile = tile if tile.shape[2] == 3 else np.repeat(tile, 3, axis=2)
    if tile.shape[0] == height:
        return tile
    width = max(1, round(tile.shape[1] * height / tile.shape[0]))
    return cv2.resize(tile, (width, height), interpolation=cv2.INTER_AREA)


def write_gallery(out_dir: Path, name: str, columns: list[str], rows: list[list[np.ndarray]], title: str = "") -> Path:
    """``rows`` of uint8 H x W x C tiles, one per column, become ``out_dir/name.png`` (tiles scaled to the
    first tile's height, 4-pixel white gaps) and a section of ``out_dir/index.html``."""
    out_dir = Path(out_dir)
    if not rows:
        raise ValueError("a gallery needs at least one row")
    height = rows[0][0].shape[0]
    gap = 4
    lines = []
    for row in rows:
        tiles = [_fit(t, height) for t in row]
        parts = []
        for t in tiles:
            parts += [t, np.full((height, gap, 3), 255, np.uint8)]
        lines.append(np.concatenate(parts[:-1], 1))
    width = max(line.shape[1] for line in lines)
    canvas = []
    for line in lines:
        pad = np.full((height, width - line.shape[1], 3), 255, np.uint8)
        canvas += [np.concatenate([line, pad], 1), np.full((gap, width, 3), 255, np.uint8)]
    png = out_dir / f"{name}.png"
    save_image(np.concatenate(canvas[:-1], 0), png)
    sections = sorted(p.name for p in out_dir.glob("*.png"))
    body = "\n".join(f"<h2>{html.escape(Path(s).stem)}</h2>\n<img src=\"{html.escape(s)}\" style=\"max-width:100%\">" for s in sections)
    atomic_write_text(out_dir / "index.html", f"<!doctype html><meta charset=utf-8><title>{html.escape(title or name)}</title>\n"
                      f"<h1>{html.escape(title or name)}</h1>\n<p>columns: {html.escape(' | '.join(columns))}</p>\n{body}\n")
    return png

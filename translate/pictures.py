"""Pictures: the one way to lay images out in a grid and the one way to index them in HTML.

Sample grids of the engine, side-by-side galleries of the demos, ``translate sample`` and the 2-D lab
all go through ``tile`` and ``write_index``. Images are uint8 H x W x C arrays; model outputs
(tensors in [-1, 1]) and 2-D point sets become such tiles through ``visual_rows``. 2-D points are drawn
by ``draw_points`` on a matplotlib axes (Agg canvas, never pyplot), here and in the lab's figures.
"""

from __future__ import annotations

import html
import math
from pathlib import Path
from urllib.parse import quote

import cv2
import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from translate.data.image_files import save_image, to_uint8
from translate.files import atomic_write_text


def _fit(tile: np.ndarray, height: int) -> np.ndarray:
    tile = tile if tile.ndim == 3 else tile[:, :, None]
    tile = tile if tile.shape[2] == 3 else np.repeat(tile[:, :, :1], 3, axis=2)
    if tile.shape[0] == height:
        return tile
    width = max(1, round(tile.shape[1] * height / tile.shape[0]))
    return cv2.resize(tile, (width, height), interpolation=cv2.INTER_AREA)


def tile(rows: list[list[np.ndarray]], gap: int = 2, background: int = 255) -> np.ndarray:
    """``rows`` of uint8 tiles as one RGB image: every tile scaled to the first tile's height, ``gap``
    pixels of ``background`` between tiles and rows, short rows padded on the right."""
    if not rows or not rows[0]:
        raise ValueError("a grid needs at least one tile")
    height = rows[0][0].shape[0]
    lines = []
    for row in rows:
        parts = []
        for t in row:
            parts += [_fit(t, height), np.full((height, gap, 3), background, np.uint8)]
        lines.append(np.concatenate(parts[:-1], 1))
    width = max(line.shape[1] for line in lines)
    out = []
    for line in lines:
        out += [np.pad(line, ((0, 0), (0, width - line.shape[1]), (0, 0)), constant_values=background),
                np.full((gap, width, 3), background, np.uint8)]
    return np.concatenate(out[:-1], 0)


def extent_of(points: np.ndarray, margin: float = 1.25, least: float = 1.0) -> float:
    """Half-width of a square view centred at 0 that holds ``points``."""
    finite = np.abs(points[np.isfinite(points).all(1)]) if len(points) else points
    return max(least, float(finite.max()) * margin) if len(finite) else least


def draw_points(ax, real: np.ndarray | None, samples: list[np.ndarray], extent: float, title: str = "") -> None:
    """2-D points on a square axes of half-width ``extent``: ``real`` grey underneath, each of ``samples`` red on top."""
    if real is not None:
        ax.scatter(real[:, 0], real[:, 1], s=3, c="0.6", linewidths=0)
    for pts in samples:
        ax.scatter(pts[:, 0], pts[:, 1], s=1.5, c="tab:red", alpha=0.6, linewidths=0)
    ax.set_xlim(-extent, extent)
    ax.set_ylim(-extent, extent)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=8)


def render(fig: Figure) -> np.ndarray:
    """A matplotlib figure as a uint8 RGB array."""
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[:, :, :3].copy()


def _points_tile(sets: list[torch.Tensor], size: int) -> np.ndarray:
    """2-D point sets in one size x size plot: with several, the first (the real data) grey underneath and
    the others red on top; a single set (samples alone) red."""
    arrays = [s.detach().float().cpu().numpy() for s in sets]
    fig = Figure(figsize=(size / 100, size / 100), dpi=100)
    ax = fig.add_axes((0, 0, 1, 1))
    real, samples = (arrays[0], arrays[1:]) if len(arrays) > 1 else (None, arrays)
    draw_points(ax, real, samples, extent_of(arrays[0]))
    return render(fig)


def visual_rows(visuals: dict[str, torch.Tensor], nrow: int | None = None, plot_size: int = 256) -> list[list[np.ndarray]]:
    """Rows of tiles from a model's visuals (each (N, C, H, W) in [-1, 1]): one row per sample with a
    column per visual (input | output | target); a single visual as a square grid of ``nrow`` per
    row; 2-D point sets (N, 2) as one scatter plot."""
    values = list(visuals.values())
    if all(v.dim() == 2 for v in values):
        return [[_points_tile(values, plot_size)]]
    tiles = [[to_uint8(img) for img in v.detach().float().cpu()] for v in values]
    if len(tiles) == 1:
        nrow = nrow or max(1, math.ceil(math.sqrt(len(tiles[0]))))
        return [tiles[0][i : i + nrow] for i in range(0, len(tiles[0]), nrow)]
    return [list(row) for row in zip(*tiles)]


def write_grid(visuals: dict[str, torch.Tensor], path: Path, nrow: int | None = None, plot_size: int = 256) -> Path:
    save_image(tile(visual_rows(visuals, nrow, plot_size)), path)
    return Path(path)


def write_index(folder: Path, title: str, images: list[str], note: str = "") -> Path:
    """``folder/index.html``: a heading and each image (file names relative to ``folder``), escaped."""
    esc = html.escape
    body = "\n".join(f'<h2>{esc(Path(name).stem)}</h2>\n<img src="{esc(quote(name))}" style="max-width:100%">' for name in images)
    path = Path(folder) / "index.html"
    atomic_write_text(path, f"<!doctype html><meta charset=utf-8><title>{esc(title)}</title>\n<h1>{esc(title)}</h1>\n"
                            f"{f'<p>{esc(note)}</p>' if note else ''}\n{body}\n")
    return path


def write_gallery(out_dir: Path, name: str, columns: list[str], rows: list[list[np.ndarray]], title: str = "") -> Path:
    """``rows`` of tiles (input | output [| target]) become ``out_dir/name.png`` (4-pixel gaps), and
    ``out_dir/index.html`` lists every gallery of the folder."""
    png = Path(out_dir) / f"{name}.png"
    save_image(tile(rows, gap=4), png)
    write_index(out_dir, title or name, sorted(p.name for p in Path(out_dir).glob("*.png")), f"columns: {' | '.join(columns)}")
    return png

"""Pictures of 2-D data: points, densities and critic surfaces as uint8 RGB arrays (H x W x 3), drawn
with numpy. ``translate.pictures`` lays them out; the 2-D lab and the toy runs' sample grids use them."""

from __future__ import annotations

import numpy as np

BACKGROUND = (255, 255, 255)


def extent_of(points: np.ndarray, margin: float = 1.25, least: float = 1.0) -> float:
    """Half-width of a square view centred at 0 that holds ``points``."""
    return max(least, float(np.abs(points).max()) * margin) if len(points) else least


def _pixels(points: np.ndarray, extent: float, size: int) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(points, dtype=np.float64)
    col = np.floor((p[:, 0] + extent) / (2 * extent) * size).astype(int)
    row = np.floor((extent - p[:, 1]) / (2 * extent) * size).astype(int)  # y up
    keep = (col >= 0) & (col < size) & (row >= 0) & (row < size)
    return row[keep], col[keep]


def canvas(size: int = 256) -> np.ndarray:
    return np.full((size, size, 3), BACKGROUND, dtype=np.uint8)


def histogram(points: np.ndarray, extent: float, size: int = 256) -> np.ndarray:
    row, col = _pixels(points, extent, size)
    h = np.zeros((size, size), dtype=np.float64)
    np.add.at(h, (row, col), 1.0)
    return h


def _blur(h: np.ndarray, radius: int = 2) -> np.ndarray:
    k = np.exp(-0.5 * (np.arange(-2 * radius, 2 * radius + 1) / max(radius, 1e-6)) ** 2)
    k /= k.sum()
    h = np.apply_along_axis(lambda r: np.convolve(r, k, mode="same"), 0, h)
    return np.apply_along_axis(lambda r: np.convolve(r, k, mode="same"), 1, h)


def density(points: np.ndarray, extent: float, size: int = 256, color=(90, 90, 90)) -> np.ndarray:
    """A smoothed histogram of ``points`` shaded from white to ``color``."""
    h = _blur(histogram(points, extent, size))
    h = np.sqrt(h / h.max()) if h.max() > 0 else h
    bg = np.array(BACKGROUND, dtype=np.float64)
    out = bg + h[:, :, None] * (np.array(color, dtype=np.float64) - bg)
    return out.clip(0, 255).astype(np.uint8)


def scatter(points: np.ndarray, extent: float, base: np.ndarray | None = None, size: int = 256,
            color=(220, 30, 30), dot: int = 1) -> np.ndarray:
    """Dots of ``dot`` pixels either side drawn over ``base`` (a fresh white canvas by default)."""
    out = canvas(size) if base is None else base.copy()
    size = out.shape[0]
    row, col = _pixels(points, extent, size)
    for dr in range(-dot, dot + 1):
        for dc in range(-dot, dot + 1):
            out[np.clip(row + dr, 0, size - 1), np.clip(col + dc, 0, size - 1)] = color
    return out


def surface(values: np.ndarray) -> np.ndarray:
    """A (size, size) field (row 0 = top) as a blue-white-red image, centred on its median, with
    iso-lines every tenth of its range so the shape of a flat critic still shows."""
    v = np.asarray(values, dtype=np.float64)
    centred = v - np.median(v)
    scale = np.abs(centred).max() or 1.0
    t = (centred / scale).clip(-1, 1)[:, :, None]
    white, red, blue = np.array([255.0, 255, 255]), np.array([200.0, 30, 30]), np.array([30.0, 60, 200])
    out = np.where(t > 0, white + t * (red - white), white + (-t) * (blue - white))
    levels = np.floor((v - v.min()) / ((v.max() - v.min()) or 1.0) * 10)
    edge = np.zeros(v.shape, dtype=bool)
    edge[:-1] |= levels[:-1] != levels[1:]
    edge[:, :-1] |= levels[:, :-1] != levels[:, 1:]
    out[edge] = out[edge] * 0.6
    return out.clip(0, 255).astype(np.uint8)


def grid_points(extent: float, size: int = 256) -> np.ndarray:
    """Pixel centres of a size x size view as (size*size, 2) points, row-major from the top row."""
    c = (np.arange(size) + 0.5) / size * 2 * extent - extent
    xs, ys = np.meshgrid(c, c[::-1])
    return np.stack([xs.ravel(), ys.ravel()], 1)

"""Edge sketches of photos: black one-pixel lines on white, like the edges2shoes sketches (made with HED,
whose weights are not available offline; this is a Canny stand-in, see datasets/make_edges.py)."""

from __future__ import annotations

import cv2
import kornia
import numpy as np
import torch

DEFAULTS = {"size": 256, "fit": "resize", "low": 0.12, "high": 0.3, "sigma": 2.0, "min_pixels": 12}


def _resize(arr: np.ndarray, size: int) -> np.ndarray:
    """Area averaging when shrinking, bicubic when growing."""
    if arr.shape[:2] == (size, size):
        return arr
    shrink = size * size < arr.shape[0] * arr.shape[1]
    return cv2.resize(arr, (size, size), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)


def fit_square(photo: np.ndarray, size: int, fit: str = "resize") -> np.ndarray:
    """SIZE x SIZE: squashed (``resize``) or the centred square cut out first (``crop``)."""
    if fit == "crop":
        h, w = photo.shape[:2]
        side = min(h, w)
        top, left = (h - side) // 2, (w - side) // 2
        photo = photo[top : top + side, left : left + side]
    elif fit != "resize":
        raise ValueError(f"fit {fit!r}: use 'resize' or 'crop'")
    return _resize(photo, size)


def thin(mask: np.ndarray) -> np.ndarray:
    """Zhang-Suen skeleton of a boolean mask: strokes become one pixel wide, their ends and joins kept."""
    img = np.pad(mask.astype(np.uint8), 1)
    while True:
        changed = False
        for step in (0, 1):
            c = img[1:-1, 1:-1]
            p2, p3, p4, p5 = img[:-2, 1:-1], img[:-2, 2:], img[1:-1, 2:], img[2:, 2:]
            p6, p7, p8, p9 = img[2:, 1:-1], img[2:, :-2], img[1:-1, :-2], img[:-2, :-2]
            ring = [p2, p3, p4, p5, p6, p7, p8, p9, p2]
            neighbours = sum(ring[:-1])
            transitions = sum(((ring[i] == 0) & (ring[i + 1] == 1)).astype(np.uint8) for i in range(8))
            if step == 0:
                side = (p2 * p4 * p6 == 0) & (p4 * p6 * p8 == 0)
            else:
                side = (p2 * p4 * p8 == 0) & (p2 * p6 * p8 == 0)
            remove = (c == 1) & (neighbours >= 2) & (neighbours <= 6) & (transitions == 1) & side
            if remove.any():
                c[remove] = 0
                changed = True
        if not changed:
            return img[1:-1, 1:-1].astype(bool)


def drop_specks(mask: np.ndarray, min_pixels: int) -> np.ndarray:
    """The mask without its 8-connected pieces whose bounding box is under ``min_pixels`` on its longer side
    (dots, and the small closed loops that eyelets and stitching give)."""
    _, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    keep = np.maximum(stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT]) >= min_pixels
    keep[0] = False  # the background
    return keep[labels]


def hysteresis(edges: torch.Tensor) -> torch.Tensor:
    """Canny's hysteresis on kornia's unlinked output (1 strong, 0.5 weak): keep the 8-connected pieces of
    edge pixels that hold a strong one. The same result as kornia's own loop, in one labelling pass instead of
    one convolution per pixel of the longest weak chain (seconds per image on a CPU)."""
    e = edges[0, 0].numpy()
    _, labels = cv2.connectedComponents((e > 0).astype(np.uint8), connectivity=8)
    strong = np.zeros(labels.max() + 1, bool)
    strong[labels[e >= 1]] = True
    strong[0] = False
    return torch.from_numpy(strong[labels].astype(np.float32))[None, None]


def edges_of(photo: np.ndarray, low: float = DEFAULTS["low"], high: float = DEFAULTS["high"],
             sigma: float = DEFAULTS["sigma"], min_pixels: int = DEFAULTS["min_pixels"]) -> np.ndarray:
    """H x W x 3 uint8 photo -> H x W x 3 uint8 sketch: black one-pixel lines (0) on white (255)."""
    x = torch.from_numpy(np.array(photo)).permute(2, 0, 1)[None].float() / 255.0
    gray = kornia.color.rgb_to_grayscale(x) if x.shape[1] == 3 else x
    k = 2 * int(np.ceil(2 * sigma)) + 1
    _, edges = kornia.filters.canny(gray, low_threshold=low, high_threshold=high, kernel_size=(k, k),
                                    sigma=(sigma, sigma), hysteresis=False)
    joined = kornia.morphology.closing(hysteresis(edges), torch.ones(3, 3))
    mask = drop_specks(thin(joined[0, 0].numpy() > 0.5), min_pixels)
    sketch = np.where(mask, 0, 255).astype(np.uint8)
    return np.repeat(sketch[:, :, None], 3, axis=2)

"""Preprocessing as the official pix2pix/CycleGAN code defines it, with albumentations.

The deterministic resize (Pillow's bicubic, as the official code) is computed once per image; the random crop and flip come from one
albumentations Compose applied to every image of a sample at once (``additional_targets``), so a
pair stays aligned. Each sample is seeded from (run seed, epoch, index): the same sample always gets
the same crop, whatever the worker count, which keeps resume exact.
"""

from __future__ import annotations

import albumentations as A
import cv2
import numpy as np

from translate.config import DataConfig
from translate.data.image_files import resize


def _multiple(x: int, base: int = 4) -> int:
    return max(base, int(round(x / base)) * base)


def resize_target(cfg: DataConfig, h: int, w: int, train: bool = True) -> tuple[int, int] | None:
    """(height, width) to resize to before cropping, or None to keep the size."""
    p = cfg.preprocess
    if p == "resize_and_crop":
        return (cfg.load_size, cfg.load_size) if train else (cfg.crop_size, cfg.crop_size)
    if p in ("scale_width", "scale_width_and_crop"):
        target_w = cfg.load_size if train or p == "scale_width" else cfg.crop_size
        return (_multiple(h * target_w / w), target_w) if p == "scale_width" else (max(cfg.crop_size, round(h * target_w / w)), target_w)
    if p == "none":
        return (_multiple(h), _multiple(w)) if (h % 4 or w % 4) else None
    return None  # crop


class Preprocess:
    """Call with named uint8 arrays of equal size; returns them resized, cropped and flipped alike."""

    def __init__(self, cfg: DataConfig, train: bool = True, names: tuple[str, ...] = ("A", "B")):
        self.cfg, self.train, self.names = cfg, train, names
        crop = cfg.crop_size
        ops = []
        if cfg.preprocess in ("resize_and_crop", "crop", "scale_width_and_crop"):
            ops.append(A.PadIfNeeded(crop, crop, border_mode=cv2.BORDER_REFLECT_101))
            ops.append(A.RandomCrop(crop, crop) if train else A.CenterCrop(crop, crop))
        if train and cfg.flip:
            ops.append(A.HorizontalFlip(p=0.5))
        targets = {n: "image" for n in names[1:]}
        self.compose = A.Compose(ops, additional_targets=targets) if ops else None

    def __call__(self, seed: int, **images: np.ndarray) -> dict[str, np.ndarray]:
        first = images[self.names[0]]
        size = resize_target(self.cfg, first.shape[0], first.shape[1], self.train)
        images = {k: resize(v, *size) if size else v for k, v in images.items()}
        if self.compose is None:
            return images
        self.compose.set_random_seed(seed)
        out = self.compose(image=images[self.names[0]], **{k: images[k] for k in self.names[1:]})
        return {self.names[0]: out["image"], **{k: out[k] for k in self.names[1:]}}

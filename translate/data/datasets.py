"""Datasets addressed by key = epoch * len + index, and the resumable sampler that yields the keys.

A sample is a pure function of (run seed, key): crops, flips and (for unpaired data) the partner
image are drawn from a generator seeded by the key. Resuming at iteration N therefore only needs N.
"""

from __future__ import annotations

import logging
from typing import Any

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset, default_collate

from translate.config import DataConfig
from translate.data.image_files import load_image, to_tensor_range
from translate.data.layouts import Layout, ab_problem
from translate.data.transforms import Preprocess
from translate.errors import ArgumentError, ImageError, UserError
from translate.types import DataInfo

log = logging.getLogger("translate")
_reported: set[str] = set()


def report_once(exc: Exception) -> None:
    msg = str(exc)
    if msg not in _reported:
        _reported.add(msg)
        log.warning("skipped: %s", msg)


def sample_seed(seed: int, key: int, stream: int = 0) -> int:
    """A 32-bit seed from (run seed, key); streams keep sample seeds and epoch permutations apart."""
    return int(np.random.SeedSequence([seed % 2**32, stream, key]).generate_state(1)[0])


def set_channels(arr: np.ndarray, n: int) -> np.ndarray:
    if arr.shape[2] == n:
        return arr
    if n == 1:
        return cv2.cvtColor(arr, cv2.COLOR_RGB2GRAY)[:, :, None]
    return np.repeat(arr, n, axis=2)


class KeyedDataset(Dataset):
    """Subclasses implement ``load(index, seed, train) -> dict`` and set ``info``."""

    info: DataInfo

    def __init__(self, n: int, seed: int):
        self.n, self.seed = n, seed

    def __len__(self) -> int:
        return self.n

    def load(self, index: int, seed: int, train: bool) -> dict[str, Any]:
        raise NotImplementedError

    def __getitem__(self, key: int) -> dict[str, Any]:
        index = key % self.n
        for attempt in range(self.n):  # an unreadable file is reported once and the next one used
            try:
                return self.load((index + attempt) % self.n, sample_seed(self.seed, key), True)
            except ImageError as exc:
                report_once(exc)
        raise UserError("no readable images in the dataset: every file failed to load (the skipped files are listed above)")

    def fixed_batch(self, count: int) -> dict[str, Any]:
        """Evenly spaced samples without random crop or flip: the rows of every sample grid."""
        out = []
        picks = np.linspace(0, self.n - 1, num=min(count, self.n)).round().astype(int).tolist()
        for index in dict.fromkeys(picks):
            try:
                out.append(self.load(index, 0, False))
            except ImageError as exc:
                report_once(exc)
        if not out:
            raise UserError("no readable images for the sample grid: every file picked for it failed to load (listed above)")

        def shapes(sample):
            return [tuple(v.shape) for v in sample.values() if isinstance(v, torch.Tensor)]

        return default_collate([s for s in out if shapes(s) == shapes(out[0])])  # images kept at their own sizes may differ


class PairedDataset(KeyedDataset):
    def __init__(self, layout: Layout, cfg: DataConfig, seed: int):
        super().__init__(len(layout.items), seed)
        self.layout, self.cfg = layout, cfg
        self.train_pre, self.eval_pre = Preprocess(cfg, True), Preprocess(cfg, False)
        self.info = DataInfo(input_nc=cfg.input_nc, output_nc=cfg.output_nc, size=cfg.crop_size)

    def load(self, index, seed, train):
        item = self.layout.items[index]
        if isinstance(item, tuple):
            a, b = load_image(item[0]), load_image(item[1])
            path = item[0]
        else:
            ab, path = load_image(item), item
            problem = ab_problem(path, ab.shape[1], ab.shape[0])
            if problem:
                raise problem
            half = ab.shape[1] // 2
            a, b = ab[:, :half], ab[:, half : 2 * half]
        if self.cfg.direction == "BtoA":
            a, b = b, a
        a, b = set_channels(a, self.cfg.input_nc), set_channels(b, self.cfg.output_nc)
        out = (self.train_pre if train else self.eval_pre)(seed, A=a, B=b)
        return {"A": to_tensor_range(out["A"]), "B": to_tensor_range(out["B"]), "path": str(path)}


class ResumableBatchSampler:
    """Infinite batches of keys starting at iteration ``start``; epoch e is a permutation seeded by e.

    With ``world_size`` processes (torchrun) iteration i has one global batch of ``batch_size * world_size``
    samples, and process ``rank`` takes its ``rank``-th slice of ``batch_size`` (as DistributedSampler
    shards): together the processes see exactly the batch one process with the global batch size would."""

    def __init__(self, n: int, batch_size: int, seed: int, start: int = 0, shuffle: bool = True, rank: int = 0,
                 world_size: int = 1):
        if n < batch_size * world_size:
            across = f" times {world_size} processes" if world_size > 1 else ""
            raise ArgumentError(f"the dataset has {n} samples but {{batch_size}} is {batch_size}{across}; lower the batch size "
                                "or add data", "batch_size")
        self.n, self.batch_size, self.seed, self.start, self.shuffle = n, batch_size, seed, start, shuffle
        self.rank, self.world_size = rank, world_size
        self.iters_per_epoch = n // (batch_size * world_size)

    def _perm(self, epoch: int) -> list[int]:
        if not self.shuffle:
            return list(range(self.n))
        g = torch.Generator().manual_seed(sample_seed(self.seed, epoch, stream=1))
        return torch.randperm(self.n, generator=g).tolist()

    def __iter__(self):
        it, cached = self.start, (None, None)
        width = self.batch_size * self.world_size
        while True:
            epoch, pos = divmod(it, self.iters_per_epoch)
            if cached[0] != epoch:
                cached = (epoch, self._perm(epoch))
            first = pos * width + self.rank * self.batch_size
            yield [epoch * self.n + i for i in cached[1][first : first + self.batch_size]]
            it += 1

"""2-D toy distributions (the data layout ``toy``), the standard testbed for mode collapse:

- ring8: 8 Gaussians on a circle of radius 2, std 0.02 (Metz et al., Unrolled GANs)
- grid25: 5 x 5 Gaussians at {-4, -2, 0, 2, 4}^2 (spacing 2), std 0.05 (VEEGAN, PacGAN)
- swissroll: (t cos t, t sin t) / 7.5 for t ~ U(1.5 pi, 4.5 pi) plus N(0, 0.05^2) noise; for coverage
  the roll is cut into 10 segments of equal t, each counted as a mode.

The dataset is a fixed table of points drawn from the run seed; batches index into it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from translate.data.datasets import KeyedDataset
from translate.errors import UserError
from translate.types import DataInfo

TABLE_SIZE = 1 << 16


@dataclass(frozen=True)
class Toy:
    name: str
    kind: str  # mixture | roll
    centers: np.ndarray  # mixture means (K, 2)
    std: float

    @property
    def n_modes(self) -> int:
        return len(self.centers) if self.kind == "mixture" else ROLL_SEGMENTS

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        if self.kind == "mixture":
            x = self.centers[rng.integers(0, len(self.centers), n)]
        else:
            x = roll(rng.uniform(ROLL_T[0], ROLL_T[1], n))
        return (x + rng.normal(0.0, self.std, (n, 2))).astype(np.float32)

    @property
    def anchors(self) -> np.ndarray:
        if self.kind == "mixture":
            return self.centers
        return roll(np.linspace(ROLL_T[0], ROLL_T[1], 4000))

    @property
    def anchor_mode(self) -> np.ndarray | None:
        if self.kind == "mixture":
            return None
        return np.minimum(np.arange(4000) * ROLL_SEGMENTS // 4000, ROLL_SEGMENTS - 1)


ROLL_T, ROLL_SEGMENTS = (1.5 * math.pi, 4.5 * math.pi), 10


def roll(t: np.ndarray) -> np.ndarray:
    return np.stack([t * np.cos(t), t * np.sin(t)], 1) / 7.5


def _ring(k: int = 8, radius: float = 2.0) -> np.ndarray:
    a = 2 * np.pi * np.arange(k) / k
    return radius * np.stack([np.cos(a), np.sin(a)], 1)


def _grid(n: int = 5, spacing: float = 2.0) -> np.ndarray:
    c = (np.arange(n) - (n - 1) / 2) * spacing
    return np.array([(x, y) for x in c for y in c], dtype=np.float64)


TOYS = {
    "ring8": Toy("ring8", "mixture", _ring(), 0.02),
    "grid25": Toy("grid25", "mixture", _grid(), 0.05),
    "swissroll": Toy("swissroll", "roll", np.zeros((0, 2)), 0.05),
}


def get_toy(name: str) -> Toy:
    if name not in TOYS:
        raise UserError(f"unknown toy distribution '{name}'; choose one of {', '.join(TOYS)}")
    return TOYS[name]


class ToyDataset(KeyedDataset):
    """``TABLE_SIZE`` points of a toy distribution drawn from the run seed; each sample is {"image": (2,)}."""

    def __init__(self, name: str, seed: int, size: int = TABLE_SIZE):
        super().__init__(size, seed)
        self.toy = get_toy(name)
        self.points = torch.from_numpy(self.toy.sample(size, np.random.default_rng([seed % 2**32, 7])))
        self.info = DataInfo(input_nc=0, output_nc=0, size=0, dim=2)

    def load(self, index, seed, train):
        return {"image": self.points[index]}

    def __getitem__(self, key):  # a table lookup: no per-sample randomness to seed
        return {"image": self.points[key % self.n]}

